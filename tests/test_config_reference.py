"""config/README.md's key tables are made from the schema's descriptions and config.yaml's
values: every key described, every default shown, the page as the generator makes it."""

import yaml

from conftest import ROOT
from unused_tokens.pipeline.config_reference import (
    END,
    START,
    _shown,
    key_tables,
    leaves,
    with_tables,
)

SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
DEFAULTS = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def flat_keys(config, prefix=""):
    for key, value in config.items():
        here = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from flat_keys(value, here)
        else:
            yield here


def test_every_value_of_the_defaults_sits_under_exactly_one_described_key():
    described = {key: node["description"] for key, node in leaves(SCHEMA)}
    assert all(text.strip() for text in described.values())
    for key in flat_keys(DEFAULTS):
        owners = [d for d in described if key == d or key.startswith(d + ".")]
        assert len(owners) == 1, (key, owners)
    assert {"model.n_head", "finetune.corpus.sha256", "runtime.compile_cache"} <= set(described)
    assert "variants" in described and "variants.baseline" not in described


def test_the_reference_page_is_the_one_the_generator_makes():
    page = (ROOT / "config" / "README.md").read_text()
    assert page == with_tables(page, key_tables(SCHEMA, DEFAULTS)), (
        "config/README.md differs from the schema and config.yaml: run make config-reference"
    )


def test_a_row_shows_the_key_its_default_and_its_description_and_runtime_keys_come_last():
    lines = key_tables(SCHEMA, DEFAULTS).splitlines()
    (steps,) = [line for line in lines if line.startswith("| `train.steps` ")]
    assert steps == (
        "| `train.steps` | `500` | Optimizer steps; the log has steps + 1 rows (step 0 is before "
        "the first update). |"
    )
    first, second = [i for i, line in enumerate(lines) if line == "| key | default | meaning |"]
    experiment = [line for line in lines[first + 2 : second] if line.startswith("| `")]
    runtime = [line for line in lines[second + 2 :] if line]
    assert not any(line.startswith("| `runtime.") for line in experiment)
    assert all(line.startswith("| `runtime.") for line in runtime) and len(runtime) == len(
        DEFAULTS["runtime"]
    )


def test_defaults_are_shown_short_and_as_yaml_writes_them():
    assert _shown("1f67774a12b7132438f53c57057e91f2c786e346fb3eeb238aabc0c31bb3244f") == (
        "1f67774a…3244f"
    )
    long_url = "https://raw.githubusercontent.com/gutenbergbooks/829/fd01bc95d56/829-0.txt"
    assert _shown(long_url) == "https://raw.githubusercontent.com/…/829-0.txt"
    assert _shown("https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/") == (
        "https://openaipublic.blob.core.windows.net/…/main/"
    )
    assert _shown([0, 1, True]) == "[0, 1, true]"
    assert _shown({"baseline": {}, "sgd": {"train": {"lr": 0.3}}}) == (
        "{baseline: {}, sgd: {train: {lr: 0.3}}}"
    )


def test_only_the_text_between_the_marks_is_replaced():
    page = f"intro\n{START}\nold table\n{END}\nafter\n"
    assert with_tables(page, "new\n") == f"intro\n{START}\nnew\n{END}\nafter\n"


def test_references_and_all_of_parts_are_followed():
    schema = {
        "$defs": {"part": {"properties": {"a": {"type": "integer", "description": "A."}}}},
        "properties": {
            "x": {"$ref": "#/$defs/part"},
            "y": {"allOf": [{"$ref": "#/$defs/part"}, {"required": ["a"]}]},
            "z": {"type": "string", "description": "Z."},
        },
    }
    assert [(key, node["description"]) for key, node in leaves(schema)] == [
        ("x.a", "A."),
        ("y.a", "A."),
        ("z", "Z."),
    ]
