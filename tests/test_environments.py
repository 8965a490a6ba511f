"""requirements.txt and the conda environments in envs/ pin the same versions."""

import re

import pytest
import yaml

from conftest import ROOT


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
