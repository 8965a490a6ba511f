"""Read the workflow config: typed --config values, overlays that must name their study, and
validation against config/config.schema.yaml with one-line errors."""

import copy
import difflib
import math
from pathlib import Path

import jsonschema
import yaml

from .errors import PipelineError
from .model_config import ADAPTIVE_NEEDS
from .names import BASELINE_VARIANT, GPT2, SIZE_OVERLAYS

# JSON Schema counts 500.0 as an integer; Python's range() does not: integers are ints here.
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)
VARIANT_HINT = "a variant may set only model and train keys of the experiment"
ADAPTIVE_HINT = f"adaptive {ADAPTIVE_NEEDS}"
FINETUNE_HINT = (
    "fine-tuning starts from the baseline's model, which must have model.vocabulary: full and "
    "model.head: softmax (the second book's tokens need their rows and one output matrix)"
)


NOT_COMPUTED = {  # and every `sources` list: where an input comes from, its sha256 fixes what
    ("runtime",),
    ("study",),
    ("download",),
    ("finetune", "enabled"),  # switching fine-tuning on adds results, replaces none
    ("coverage", "enabled"),  # the same for the coverage study
}


def changed_keys(before, overlay, path=()):
    """The dotted keys of `overlay` that change what `before` computes: not how it runs, its
    name, or where its inputs come from (any `sources`: their sha256 values fix what they are)."""
    changed = []
    for key, value in overlay.items():
        here = (*path, key)
        if here in NOT_COMPUTED or here[:1] in NOT_COMPUTED or key == "sources":
            continue
        old = before.get(key) if isinstance(before, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            changed += changed_keys(old, value, here)
        elif value != old:
            changed.append(".".join(here))
    return changed


def study_named(base, overlays, schema_path):
    """The study's name, from the overlays whatever their order, refusing overlays that would
    silently replace the results of a study the workflow ships.

    The name is the last one an overlay (or --config) gives, but a size overlay's
    (names.SIZE_OVERLAYS: smoke, medium) only where no other overlay names one: config/smoke.yaml
    with config/experiments.yaml, in either order, is the study experiments at the smoke size.
    Where the name is the workflow's (config/config.yaml's or one of its overlays'), every
    overlay that changes what is computed must name a study itself; under a name the user gave
    (an overlay of their own, --config), changes are theirs. Values are compared as the schema
    types them (coerce_types): lr: 3e-4 in an overlay is the default's 0.0003. An overlay that
    gives a book without its title is refused too (_check_titled).

    base: config/config.yaml; overlays: (label, mapping, shipped) in the order they are applied
    (the --configfile files, then --config), shipped: whether the file comes with the workflow.
    """
    schema = _schema(schema_path)
    config, unnamed, sizes, others = copy.deepcopy(base), None, [], []
    coerce_types(config, schema)
    for label, overlay, shipped in overlays:
        overlay = copy.deepcopy(overlay)
        coerce_types(overlay, schema)
        _check_titled(label, overlay)
        changed = changed_keys(config, overlay)
        if "study" in overlay:
            sized = shipped and Path(label).name in {Path(s).name for s in SIZE_OVERLAYS}
            (sizes if sized else others).append((overlay["study"], shipped))
        elif changed and unnamed is None:
            unnamed = label, changed[0]
        for key, value in overlay.items():  # key by key, as Snakemake merges
            config[key] = _merged(config.get(key), value)
    study, shipped = (others or sizes or [(base["study"], True)])[-1]
    if unnamed and shipped:
        label, key = unnamed
        fix = "study=<new name>" if label == "--config" else "study: <new name>"
        raise PipelineError(
            f"{label} changes {key} but names no study, so its results would replace those in "
            f"results/{study}/: add {fix} to {label} (naming the study {study} there replaces "
            "them on purpose)"
        )
    return study


def _check_titled(label, overlay):
    """Refuse an overlay that gives a book another sha256 (another book) but not its title,
    which the report would otherwise take from the book it replaces."""
    sections = {"corpus": overlay.get("corpus"), "finetune.corpus": None}
    if isinstance(overlay.get("finetune"), dict):
        sections["finetune.corpus"] = overlay["finetune"].get("corpus")
    for key, section in sections.items():
        if isinstance(section, dict) and "sha256" in section and "title" not in section:
            raise PipelineError(
                f"{label} changes {key}.sha256 (another book) but not {key}.title, so the "
                f"report would name the book it replaces: add title: <the book's title> to "
                f"{key} in {label}"
            )


def _schema(path):
    return yaml.safe_load(Path(path).read_text())


def _merged(old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{key: _merged(old.get(key), value) for key, value in new.items()}}
    return new


def experiment(config):
    """What the config computes: every key but runtime, with the keys of every mapping sorted,
    so that the order in which overlays were given changes nothing (lists keep their order)."""

    def sorted_keys(value):
        if isinstance(value, dict):
            return {key: sorted_keys(value[key]) for key in sorted(value)}
        return value

    return sorted_keys({key: value for key, value in config.items() if key != "runtime"})


def _as_typed(value, expected):
    """`value` as the number or boolean a schema type `expected` (a JSON type or a list of them)
    asks for, where a config reasonably holds it otherwise; None where it is no such value.

    Numbers: text (exponent notation, which YAML 1.1 reads as text: 3e-4; and every value inside
    a mapping or list given with --config, which Snakemake leaves as text: seeds=[0,1]) and an
    integral float for an integer (500.0). Booleans: true and false as text, in either case.
    """
    types = {expected} if isinstance(expected, str) else set(expected)
    if "boolean" in types and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, float) or not math.isfinite(value):
        return None
    if "integer" in types and value.is_integer():
        return int(value)
    return value if "number" in types else None


def coerce_types(config, schema):
    """Give every value the schema wants as a number or a boolean, written otherwise, that type,
    in place (`_as_typed`); `config` may be a whole config or an overlay."""
    validator = Validator(schema)
    while True:
        fixes = [
            (list(error.absolute_path), number)
            for error in validator.iter_errors(config)
            if error.validator == "type"
            and (number := _as_typed(error.instance, error.validator_value)) is not None
        ]
        if not fixes:
            return
        for path, number in fixes:
            parent = config
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = number


def _non_finite(value, path=()):
    """The dotted key of the first number in `value` that is NaN or infinite, or None: no key of
    this pipeline means anything by them."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".".join(map(str, path))
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _non_finite(item, (*path, key))
        if found:
            return found
    return None


def _first_problem(config, schema):
    """(key path, message) of the first problem found, or None."""
    key = _non_finite(config)
    if key:
        return key, "NaN and infinity mean nothing here: give a finite number"
    if isinstance(config.get("tokenizers"), dict) and GPT2 in config["tokenizers"]:
        return f"tokenizers.{GPT2}", (
            "GPT-2's tokenizer is always the study's first (the tokenizer section): remove this "
            "entry, or name another tokenizer"
        )
    errors = sorted(
        Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        error = errors[0]
        path = list(map(str, error.absolute_path))
        message = error.message
        if error.validator == "additionalProperties":
            allowed = error.schema.get("properties", {})
            unexpected = next(k for k in error.instance if k not in allowed)
            hint = closest_key(unexpected, allowed)
            runtime = schema["properties"]["runtime"]["properties"]
            if path[:1] == ["variants"] and (hint is None or unexpected in runtime):
                message = f"{message}; {VARIANT_HINT}"
            elif hint:
                message = f"{message}; did you mean {hint}?"
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
    finetune = config["finetune"]
    if finetune["enabled"] and (config["model"]["vocabulary"], config["model"]["head"]) != (
        "full",
        "softmax",
    ):
        return "finetune.enabled", FINETUNE_HINT
    late = [k for k in finetune["report_steps"] if k > finetune["steps"]]
    if late:
        return "finetune.report_steps", f"{late[0]} is past finetune.steps={finetune['steps']}"
    every = config["held_out"]["every"]
    unscored = [k for k in finetune["report_steps"] if k % every and k != finetune["steps"]]
    if finetune["enabled"] and unscored:
        return (
            "finetune.report_steps",
            f"the held-out slice is not scored at step {unscored[0]}: use multiples of "
            f"held_out.every={every} or finetune.steps={finetune['steps']}",
        )
    unknown = _unknown_encoding(config["tokenizers"])
    if unknown:
        return unknown
    same = _same_as_baseline(config)
    if same:
        return f"variants.{same[0]}", same[1]
    repeated = _repeated_title(config)
    if repeated:
        return repeated
    runtime = config["runtime"]
    cache = Path(runtime["compile_cache"])
    if cache.is_absolute() or ".." in cache.parts or cache.parts[:1] != ("results",):
        return (
            "runtime.compile_cache",
            f"{runtime['compile_cache']!r} is not a folder under results/, where the pipeline "
            "writes everything (the default: results/.torch-compile)",
        )
    if runtime["pad_vocab"] > 1 and not runtime["fused_head"]:
        return (
            "runtime.pad_vocab",
            f"{runtime['pad_vocab']} needs runtime.fused_head: true (or use 1)",
        )
    return None


def closest_key(key, allowed):
    """The allowed key a misspelt `key` most likely means: the closest in spelling, or the one
    its words' initials spell (learning_rate: lr); None where none is close."""
    initials = "".join(word[:1] for word in key.split("_"))
    if initials in allowed and "_" in key:
        return initials
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return close[0] if close else None


def _same_as_baseline(config):
    """(variant, message) of the first variant other than the baseline whose overrides all
    equal the experiment's values (it would repeat the baseline's runs), or None."""
    for name, overrides in config["variants"].items():
        if name == BASELINE_VARIANT:
            if any((overrides or {}).values()):
                return name, (
                    "the baseline is the experiment itself and takes no overrides: give this "
                    "variant another name"
                )
            continue
        same = [
            f"{section}.{key}: {value!r}"
            for section, values in (overrides or {}).items()
            for key, value in values.items()
            if config[section][key] == value
        ]
        changed = sum(len(values) for values in (overrides or {}).values())
        if len(same) == changed:
            already = f" ({', '.join(same)} is already the experiment's value)" if same else ""
            return name, f"it equals the baseline{already}: change a value, or remove the variant"
    return None


def _unknown_encoding(tokenizers):
    """(key, message) of the first tokenizer of format tiktoken whose name is not one of
    tiktoken's encodings (its constructor gives the pattern and special tokens), or None."""
    named = [
        name for name, entry in tokenizers.items() if (entry or {}).get("format") == "tiktoken"
    ]
    if not named:
        return None
    from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS  # only where one is configured

    for name in named:
        if name not in ENCODING_CONSTRUCTORS:
            known = ", ".join(sorted(set(ENCODING_CONSTRUCTORS) - {GPT2}))
            return f"tokenizers.{name}", (
                f"{name!r} is not one of tiktoken's encodings ({known}): a tokenizer of format "
                "tiktoken is named after the encoding its file holds"
            )
    return None


def _repeated_title(config):
    """(key, message) of the first book whose title an earlier book of the study already has
    (the report and the coverage tables name books by title), or None."""
    books = {"corpus": config["corpus"]}
    if config["finetune"]["enabled"] or config["coverage"]["enabled"]:
        books["finetune.corpus"] = config["finetune"]["corpus"]
    if config["coverage"]["enabled"]:
        books |= {
            f"coverage.books.{name}": section
            for name, section in config["coverage"]["books"].items()
            if section is not None
        }
    seen = {}
    for key, section in books.items():
        title = section["title"]
        if title in seen:
            return f"{key}.title", (
                f"{title!r} is also {seen[title]}.title: give each book its own title, which "
                "names it in the report"
            )
        seen[title] = key
    return None


def validate_config(config, schema_path):
    """Read numbers and booleans as the values they mean (coerce_types, in place), then raise
    PipelineError naming the first bad key (by path) if `config` is not valid."""
    schema = _schema(schema_path)
    coerce_types(config, schema)
    problem = _first_problem(config, schema)
    if problem:
        key, message = problem
        raise PipelineError(
            f"config key {key}: {message}; fix it in your config file or --config "
            f"(allowed keys and ranges: {schema_path})"
        )


def tokenizer_spec(config, name):
    """What loads the tokenizer `name` of a config (data/tokenizer.load_tokenizer): its name and
    format, and the sha256 of each of its files (GPT-2's: the tokenizer section; any other: its
    entry in tokenizers)."""
    if name == GPT2:
        keys = ("vocab_bpe_sha256", "encoder_json_sha256")
        return {"name": GPT2, "format": GPT2, **{k: config["tokenizer"][k] for k in keys}}
    entry = config["tokenizers"][name]
    return {"name": name, "format": entry["format"], "sha256": entry["sha256"]}
