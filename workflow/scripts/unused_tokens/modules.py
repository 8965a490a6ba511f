"""Which of this package's modules a stage imports, found by reading its script (and notebook).

A rule lists them as inputs, so that editing a helper module reruns exactly the stages that use
it, directly or through another module; nothing keeps a hand-written list in step.
"""

import json
import modulefinder
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


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
