"""Each stage's helper modules are found by reading its script and notebook, imports of imports
included, so that editing a module reruns exactly the stages that use it."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from unused_tokens.pipeline.modules import helper_modules, write_stamp

SCRIPTS = ROOT / "workflow" / "scripts"


def names(*sources):
    return [Path(p).name for p in helper_modules(*sources)]


def test_the_train_stage_depends_on_what_it_imports_through_other_modules():
    found = names(SCRIPTS / "train.py")
    assert {"train.py", "step.py", "head.py", "progress.py", "stage.py", "__init__.py"} <= set(
        found
    )
    assert "figures.py" not in found and "render.py" not in found
    paths = helper_modules(SCRIPTS / "train.py")
    assert paths == sorted(paths)
    assert {Path(p).parent.name for p in paths} == {
        "unused_tokens",
        "pipeline",
        "data",
        "model",
        "training",
    }


def test_the_report_depends_on_what_its_notebook_imports():
    script_only = set(names(SCRIPTS / "report.py"))
    with_notebook = set(names(SCRIPTS / "report.py", ROOT / "workflow/notebooks/report.ipynb"))
    assert "figures.py" not in script_only
    report = {"figures.py", "claims.py", "run_facts.py", "verdicts.py", "progress.py"}
    assert report <= with_notebook


def test_every_stage_script_depends_on_the_stage_helpers():
    for script in SCRIPTS.glob("*.py"):
        assert {"stage.py", "errors.py", "__init__.py"} <= set(names(script)), script.name


HEAVY = ("torch", "scipy", "matplotlib", "sklearn")  # what only the stages themselves need
BLOCKER = f"""
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError("the workflow imported " + name + " while parsing")

sys.meta_path.insert(0, Blocked())
"""


def test_the_workflow_parses_and_plans_without_the_stages_heavy_libraries(tmp_path):
    """Every snakemake call (and on a cluster every job) parses the Snakefile: it must not pay
    for torch, scipy, matplotlib or scikit-learn, which only the stages' scripts import."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    overlays = ["config/offline.yaml", "config/smoke.yaml", "config/experiments.yaml"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--configfile",
            *overlays,
            "config/finetune.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "This was a dry-run" in result.stdout


def test_a_stamp_names_each_module_with_its_hash_and_changes_with_any_of_them(tmp_path):
    modules = [SCRIPTS / "unused_tokens" / "pipeline" / n for n in ("errors.py", "stage.py")]
    stamp = tmp_path / "library" / "stage.sha256"
    assert write_stamp(list(reversed(modules)), stamp) == 2
    lines = stamp.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "unused_tokens/pipeline/errors.py",
        "unused_tokens/pipeline/stage.py",
    ]
    assert lines[0].split("  ")[0] == hashlib.sha256(modules[0].read_bytes()).hexdigest()
    copy = tmp_path / "unused_tokens" / "pipeline" / "stage.py"  # outside the package
    copy.parent.mkdir(parents=True)
    copy.write_text("# another module\n")
    with pytest.raises(ValueError, match="is not in the subpath of"):
        write_stamp([modules[0], copy], stamp)
    assert stamp.read_text().splitlines() == lines  # the old stamp stays whole


def test_the_library_rule_logs_its_count_and_an_unexpected_error_with_its_traceback(tmp_path):
    """The rule's script through the stage helper, as Snakemake runs it (a stand-in object)."""
    modules = [str(SCRIPTS / "unused_tokens" / "pipeline" / "errors.py")]
    outside = tmp_path / "elsewhere.py"
    outside.write_text("# not in the package\n")
    stamp, log = tmp_path / "stage.sha256", tmp_path / "library.log"
    script = (SCRIPTS / "library.py").read_text()
    for inputs, code in ((modules, 0), ([*modules, str(outside)], 1)):
        fake = f"""
import sys; sys.path.insert(0, {str(SCRIPTS)!r})
from types import SimpleNamespace
snakemake = SimpleNamespace(input={inputs!r}, output=[{str(stamp)!r}], log=[{str(log)!r}],
                            rule="library", params={{}})
"""
        result = subprocess.run([sys.executable, "-c", fake + script], capture_output=True)
        assert result.returncode == code, result.stderr
        text = log.read_text()
        if code == 0:
            assert text.endswith(f"INFO 1 helper modules stamped in {stamp}\n")
        else:
            assert "ERROR unexpected error in rule library: ValueError: " in text
            assert "Traceback" in text
    assert stamp.read_text().count("\n") == 1  # the first stamp stays whole


def test_the_dry_run_benchmark_prints_the_study_the_empty_snakefile_and_their_difference(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import dry_run

    dry_run.main(["--runs", "1"])
    lines = capsys.readouterr().out.splitlines()
    figure = r"median \d+\.\d\d s \(min \d+\.\d\d, max \d+\.\d\d\)"
    assert re.fullmatch(
        rf"snakemake -n --configfile config/offline.yaml config/smoke.yaml: {figure}", lines[0]
    )
    assert re.fullmatch(rf"snakemake -n of an empty Snakefile: {figure}", lines[1])
    assert re.fullmatch(r"the workflow's own cost, run by run: median -?\d+\.\d\d s .*", lines[2])
