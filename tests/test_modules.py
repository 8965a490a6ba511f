"""Each stage's helper modules are found by reading its script and notebook, imports of imports
included, so that editing a module reruns exactly the stages that use it."""

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
