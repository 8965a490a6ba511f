"""Validate the workflow config against config/config.schema.yaml with one-line errors."""

import jsonschema
import yaml

from .errors import PipelineError


def _first_problem(config, schema):
    """(key path, message) of the first problem found, or None."""
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        return ".".join(map(str, errors[0].absolute_path)) or "(top level)", errors[0].message
    model = config["model"]
    if model["n_embd"] % model["n_head"]:
        return "model.n_head", f"{model['n_head']} does not divide model.n_embd={model['n_embd']}"
    train = config["train"]
    if train["pad_vocab"] > 1 and not train["fused_head"]:
        return "train.pad_vocab", f"{train['pad_vocab']} needs train.fused_head: true (or use 1)"
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
