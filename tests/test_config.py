"""Config validation: the shipped configs are valid; bad values fail naming the key."""

import pytest
import yaml

from conftest import ROOT, merged
from unused_tokens.config import validate_config
from unused_tokens.errors import PipelineError
from unused_tokens.precision import PRECISIONS
from unused_tokens.step import ADAMW_KERNELS, COMPILE_MODES

SCHEMA = ROOT / "config" / "config.schema.yaml"


@pytest.mark.parametrize(
    "overlays",
    [
        [],
        ["smoke.yaml"],
        ["medium.yaml"],
        ["offline.yaml"],
        ["fast.yaml"],
        ["smoke.yaml", "offline.yaml"],
    ],
)
def test_shipped_configs_are_valid(default_config, overlays):
    config = default_config
    for name in overlays:
        config = merged(config, yaml.safe_load((ROOT / "config" / name).read_text()))
    validate_config(config, SCHEMA)


@pytest.mark.parametrize(
    "overlay, message",
    [
        (
            {"colour": "blue"},
            r"config key \(top level\): Additional properties are not allowed "
            r"\('colour' was unexpected\)",
        ),
        (
            {"train": {"stpes": 5}},
            r"config key train: Additional properties are not allowed \('stpes' was unexpected\)",
        ),
        ({"train": {"steps": -3}}, r"config key train.steps: -3 is less than the minimum of 1"),
        ({"train": {"steps": "many"}}, r"config key train.steps: 'many' is not of type 'integer'"),
        (
            {"train": {"device": "gpu"}},
            r"config key train.device: 'gpu' is not one of \['auto', 'cuda', 'cpu'\]",
        ),
        ({"groups": {"size": 0}}, r"config key groups.size: 0 is less than the minimum of 1"),
        ({"corpus": {"sha256": "abc"}}, r"config key corpus.sha256: 'abc' does not match"),
        (
            {"corpus": {"sources": ["ftp://x"]}},
            r"config key corpus.sources.0: 'ftp://x' does not match",
        ),
        ({"model": {"n_head": 5}}, r"config key model.n_head: 5 does not divide model.n_embd=768"),
        (
            {"train": {"fused_head": False}},
            r"config key train.pad_vocab: 64 needs train.fused_head: true \(or use 1\)",
        ),
        (
            {"train": {"compile_mode": "fastest"}},
            r"config key train.compile_mode: 'fastest' is not one of \['default', 'reduce-",
        ),
    ],
)
def test_bad_values_name_the_key(default_config, overlay, message):
    with pytest.raises(PipelineError, match=message) as err:
        validate_config(merged(default_config, overlay), SCHEMA)
    assert "\n" not in str(err.value)
    assert str(err.value).endswith(f"(allowed keys and ranges: {SCHEMA})")


def test_the_schema_offers_exactly_the_choices_the_library_knows():
    train = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]["properties"]
    assert train["precision"]["enum"] == list(PRECISIONS)
    assert sorted(train["adamw"]["enum"]) == sorted(ADAMW_KERNELS)
    assert train["compile_mode"]["enum"] == list(COMPILE_MODES)
