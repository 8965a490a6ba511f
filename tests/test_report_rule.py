"""The report rule's inputs and params are the notebook's parameters, by name: the stage script
passes them through, so a name is written in the rule and in the notebook, nowhere else."""

import ast
import json
import re

from conftest import ROOT

RULES = ROOT / "workflow" / "rules"


def not_parameters():
    """report.py's NOT_PARAMETERS: the names it keeps from the notebook."""
    tree = ast.parse((ROOT / "workflow" / "scripts" / "report.py").read_text())
    (value,) = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and n.targets[0].id == "NOT_PARAMETERS"
    ]
    return set(ast.literal_eval(value))


def section(rule_text, name):
    """The keyword names of one section (input:, output:, params:) of a rule's text."""
    body = re.search(rf"^    {name}:\n(.*?)(?=^    \w+:|\Z)", rule_text, re.M | re.S)[1]
    return re.findall(r"^        (\w+)=", body, re.M)


def rule_text(file, rule):
    return re.search(
        rf"^rule {rule}:\n(.*?)(?=^rule |\Z)", (RULES / file).read_text(), re.M | re.S
    )[0]


def notebook_parameters():
    cells = json.loads((ROOT / "workflow" / "notebooks" / "report.ipynb").read_text())["cells"]
    (cell,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    tree = ast.parse("".join(cell["source"]))
    return {target.id for node in tree.body for target in node.targets}


def test_every_input_and_param_of_the_report_rule_is_a_notebook_parameter_and_back():
    report = rule_text("report.smk", "report")
    tuned = section(rule_text("finetune.smk", "aggregate_finetune"), "output")
    compared = section(rule_text("report.smk", "compare_tokenizers"), "output")
    counted = section(rule_text("coverage.smk", "coverage"), "output")
    named = set(section(report, "input")) | set(section(report, "params"))
    named |= {"finetune_groups_path"} | {f"finetune_{k}_path" for k in tuned}
    named |= {"tokenizer_claims_paths"} | {f"tokenizers_{k}_path" for k in compared}
    named |= {f"coverage_{k}_paths" for k in counted}
    assert "finetune_level_path" in named and "summary_path" in named
    assert "tokenizers_facts_path" in named and "coverage_growth_paths" in named
    assert not_parameters() == {"template", "html_template", "helpers", "makers"}
    assert named - not_parameters() | {"lib_dir"} == notebook_parameters()
