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
from unused_tokens.pipeline.modules import helper_modules, module_hashes

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


def test_each_module_is_named_by_its_package_path_with_its_hash(tmp_path):
    modules = [SCRIPTS / "unused_tokens" / "pipeline" / n for n in ("stage.py", "errors.py")]
    hashes = module_hashes(modules)
    assert list(hashes) == ["unused_tokens/pipeline/errors.py", "unused_tokens/pipeline/stage.py"]
    assert (
        hashes["unused_tokens/pipeline/errors.py"]
        == hashlib.sha256(modules[1].read_bytes()).hexdigest()
    )
    copy = tmp_path / "unused_tokens" / "pipeline" / "stage.py"  # outside the package
    copy.parent.mkdir(parents=True)
    copy.write_text("# another module\n")
    with pytest.raises(ValueError, match="is not in the subpath of"):
        module_hashes([modules[0], copy])


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
