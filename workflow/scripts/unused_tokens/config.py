"""Validate the workflow config against config/config.schema.yaml with one-line errors."""

import jsonschema
import yaml

from .errors import PipelineError
from .model import ADAPTIVE_NEEDS

VARIANT_HINT = "a variant may set only model and train keys of the experiment"
ADAPTIVE_HINT = f"adaptive {ADAPTIVE_NEEDS}"


def _first_problem(config, schema):
    """(key path, message) of the first problem found, or None."""
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        path = list(map(str, errors[0].absolute_path))
        message = errors[0].message
        if path[:1] == ["variants"] and errors[0].validator == "additionalProperties":
            message = f"{message}; {VARIANT_HINT}"
        return ".".join(path) or "(top level)", message
    models = {"model": config["model"]} | {
        f"variants.{name}.model": {**config["model"], **(overrides or {}).get("model", {})}
        for name, overrides in config["variants"].items()
    }
    for key, model in models.items():
        if model["n_embd"] % model["n_head"]:
            return f"{key}.n_head", f"{model['n_head']} does not divide n_embd={model['n_embd']}"
        if model["head"] == "adaptive" and (model["tied"] or model["output_bias"]):
            return f"{key}.head", ADAPTIVE_HINT
    runtime = config["runtime"]
    if runtime["pad_vocab"] > 1 and not runtime["fused_head"]:
        return (
            "runtime.pad_vocab",
            f"{runtime['pad_vocab']} needs runtime.fused_head: true (or use 1)",
        )
    return None


def validate_config(config, schema_path):
    """Raise PipelineError naming the first bad key (by path) if `config` is not valid."""
    with open(schema_path) as f:
        problem = _first_problem(config, yaml.safe_load(f))
    if problem:
        key, message = problem
        raise PipelineError(
            f"config key {key}: {message}; fix it in your config file or --config "
            f"(allowed keys and ranges: {schema_path})"
        )
