"""report rule: execute the report notebook with papermill and render it to HTML. The rule's
inputs and params are named as the notebook's parameters and passed through as they are."""

import json
from pathlib import Path

import unused_tokens
from unused_tokens.pipeline.stage import stage
from unused_tokens.report.render import execute_notebook, to_html

# what the rule needs, not the notebook
NOT_PARAMETERS = ("template", "html_template", "helpers", "makers")

with stage(snakemake) as log:
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    parameters = {"lib_dir": str(Path(unused_tokens.__file__).parent.parent)}
    for name, value in [*i.items(), *p.items()]:
        if name not in NOT_PARAMETERS:
            parameters[name] = json.loads(json.dumps(value))  # plain lists and dicts
    execute_notebook(i.template, o.notebook, parameters)
    title = f"{p.study}: what training does to rare and never-used tokens"
    to_html(o.notebook, o.html, title, i.html_template)
    log.info("report: %s", o.html)
