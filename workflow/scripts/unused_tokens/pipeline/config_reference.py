"""The configuration reference: config/README.md's key tables, made from the schema's
descriptions and config.yaml's values, so that each key's meaning is written once (in the
schema) and its default once (in config.yaml).

    python -m unused_tokens.pipeline.config_reference   # rewrites config/README.md's tables
"""

import json
import sys
from pathlib import Path

import yaml

from .files import atomic_output

START = (
    "<!-- key tables: made by `make config-reference` from config.schema.yaml and config.yaml -->"
)
END = "<!-- end of the key tables -->"
RUNTIME = "runtime"
SHORT = 40  # longer default values are shortened in the table


def _resolved(node, schema):
    """`node` with its $ref and allOf parts merged into one mapping."""
    merged = {}
    for part in node.get("allOf", []):
        merged |= _resolved(part, schema)
    if "$ref" in node:
        target = schema
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        merged |= _resolved(target, schema)
    own = {k: v for k, v in node.items() if k not in ("allOf", "$ref")}
    if "properties" in merged and "properties" in own:
        own["properties"] = merged["properties"] | own["properties"]
    return merged | own


def leaves(schema):
    """(dotted key, resolved node) of every key that holds a value rather than named keys, in
    the schema's order: the rows of the reference."""

    def walk(node, prefix):
        node = _resolved(node, schema)
        if "properties" not in node or not prefix:
            if prefix:
                yield prefix, node
                return
        for key, child in node["properties"].items():
            yield from walk(child, f"{prefix}.{key}" if prefix else key)

    yield from walk(schema, "")


def _shown(value):
    """A default as the table shows it: YAML's flow style, long strings shortened."""
    if isinstance(value, str) and len(value) > SHORT:
        if "://" in value:  # a URL: its host and its last part
            scheme, rest = value.split("://", 1)
            last = rest.rstrip("/").rsplit("/", 1)[1] + ("/" if value.endswith("/") else "")
            return f"{scheme}://{rest.split('/', 1)[0]}/…/{last}"
        return f"{value[:8]}…{value[-5:]}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _value(config, dotted):
    for key in dotted.split("."):
        config = config[key]
    return config


def key_tables(schema, defaults):
    """The two Markdown tables: the experiment's keys, then the runtime's."""
    rows = {True: [], False: []}
    for key, node in leaves(schema):
        described = " ".join(node["description"].split()).replace("<", "&lt;")
        row = f"| `{key}` | `{_shown(_value(defaults, key))}` | {described} |"
        rows[key.split(".")[0] == RUNTIME].append(row)
    header = "| key | default | meaning |\n| --- | --- | --- |\n"
    return (
        "Experiment keys (what is computed; changing one reruns exactly what depends on it, "
        "except `study`, `download`, the `sources` and `finetune.enabled`, which name or fetch "
        "it):\n\n" + header + "\n".join(rows[False]) + "\n\n"
        "Runtime keys (how it is run; recorded in every run's metadata, never a rerun, never in "
        "a variant):\n\n" + header + "\n".join(rows[True]) + "\n"
    )


def with_tables(page, tables):
    """`page` with the text between its START and END marks replaced by `tables`."""
    before, rest = page.split(START + "\n", 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{tables}{END}{after}"


def main(config_dir):
    config_dir = Path(config_dir)
    schema = yaml.safe_load((config_dir / "config.schema.yaml").read_text())
    defaults = yaml.safe_load((config_dir / "config.yaml").read_text())
    page = config_dir / "README.md"
    text = with_tables(page.read_text(), key_tables(schema, defaults))
    with atomic_output(page) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "config")
