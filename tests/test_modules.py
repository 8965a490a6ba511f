"""Each stage's helper modules are found by reading its script and notebook, imports of imports
included, so that editing a module reruns exactly the stages that use it."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from unused_tokens.modules import helper_modules

SCRIPTS = ROOT / "workflow" / "scripts"


def names(*sources):
    return [Path(p).name for p in helper_modules(*sources)]


def test_the_train_stage_depends_on_what_it_imports_through_other_modules():
    found = names(SCRIPTS / "train_model.py")
    assert {"train.py", "step.py", "head.py", "progress.py", "stage.py", "__init__.py"} <= set(
        found
    )
    assert "figures.py" not in found and "render.py" not in found
    assert found == sorted(found)


def test_the_report_depends_on_what_its_notebook_imports():
    script_only = set(names(SCRIPTS / "render_report.py"))
    with_notebook = set(
        names(SCRIPTS / "render_report.py", ROOT / "workflow/notebooks/report.ipynb")
    )
    assert "figures.py" not in script_only
    assert {"figures.py", "claims.py", "facts.py", "verdicts.py", "progress.py"} <= with_notebook


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
