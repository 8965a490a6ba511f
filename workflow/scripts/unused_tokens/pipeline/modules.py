"""Which of this package's modules a stage imports, found by reading its script (and notebook).

Each rule takes their paths and sha256 values as a param (rules/common.smk's helpers): editing
a helper module reruns exactly the stages that use it, directly or through another module
(Snakemake's params trigger), and nothing keeps a hand-written list in step.
"""

import json
import modulefinder
import tempfile
from pathlib import Path

from .files import sha256_of

PACKAGE = Path(__file__).resolve().parent.parent  # unused_tokens/
NOTEBOOKS = {"report": ("notebooks/report.ipynb",)}  # a stage's notebooks, under workflow/


def stage_sources(workflow_dir, stage):
    """The files whose imports a stage runs: its script, workflow/scripts/<stage>.py, and the
    notebooks it executes."""
    workflow_dir = Path(workflow_dir)
    return [
        workflow_dir / "scripts" / f"{stage}.py",
        *(workflow_dir / notebook for notebook in NOTEBOOKS.get(stage, ())),
    ]


def helper_modules(*sources):
    """The paths of the package's modules that the Python scripts or notebooks `sources` import,
    directly or through each other, sorted."""
    found = set()
    for source in map(Path, sources):
        finder = modulefinder.ModuleFinder(path=[str(PACKAGE.parent)])  # nothing else is read
        if source.suffix == ".ipynb":
            with tempfile.TemporaryDirectory() as folder:
                script = Path(folder) / f"{source.stem}.py"
                script.write_text(_notebook_code(source))
                finder.run_script(str(script))
        else:
            finder.run_script(str(source))
        found |= {
            module.__file__
            for name, module in finder.modules.items()
            if name.split(".")[0] == PACKAGE.name
        }
    return sorted(found)


def _notebook_code(notebook):
    cells = json.loads(Path(notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def module_hashes(modules):
    """{path relative to the package's parent: sha256} of `modules`, sorted by path."""
    return {
        str(Path(m).resolve().relative_to(PACKAGE.parent)): sha256_of(m) for m in sorted(modules)
    }
