"""Validate the workflow config against config/config.schema.yaml with one-line errors."""

import jsonschema
import yaml

from .errors import PipelineError


def validate_config(config, schema_path):
    """Raise PipelineError naming the first bad key (by path) if `config` breaks the schema."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        err = errors[0]
        key = ".".join(map(str, err.absolute_path)) or "(top level)"
        raise PipelineError(
            f"config key {key}: {err.message}; fix it in your config file or --config "
            f"(allowed keys and ranges: {schema_path})"
        )
    model = config["model"]
    if model["n_embd"] % model["n_head"]:
        raise PipelineError(
            f"config key model.n_head: {model['n_head']} does not divide "
            f"model.n_embd={model['n_embd']}; choose a divisor of n_embd"
        )
