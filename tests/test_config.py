"""Config validation: the shipped configs are valid; bad values fail naming the key."""

import math
from dataclasses import fields

import pytest
import yaml

from conftest import ROOT, merged
from unused_tokens.pipeline.config import (
    changed_keys,
    experiment,
    study_named,
    validate_config,
)
from unused_tokens.pipeline.config_reference import leaves
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.pipeline.step_options import (
    ADAMW_KERNELS,
    COMPILE_MODES,
    COMPILE_SCOPES,
    DECAY,
    OPTIMIZERS,
    PRECISIONS,
)
from unused_tokens.pipeline.study import MODEL_KEYS, Runtime, TrainSettings, study_tokenizers

SCHEMA = ROOT / "config" / "config.schema.yaml"
SHA = "0" * 64


@pytest.mark.parametrize(
    "overlays",
    [
        [],
        ["smoke.yaml"],
        ["medium.yaml"],
        ["offline.yaml"],
        ["fast.yaml"],
        ["smoke.yaml", "offline.yaml"],
        ["smoke.yaml", "experiments.yaml"],
        ["offline.yaml", "smoke.yaml", "finetune.yaml"],
        ["offline.yaml", "coverage.yaml"],
        ["offline.yaml", "smoke.yaml", "tokenizers.yaml"],
        ["offline.yaml", "smoke.yaml", "stability.yaml"],
    ],
)
def test_shipped_configs_are_valid(default_config, overlays):
    config = default_config
    for name in overlays:
        config = merged(config, yaml.safe_load((ROOT / "config" / name).read_text()))
    validate_config(config, SCHEMA)


def a_book(title):
    """A coverage book's config section, with `title`."""
    return {
        "title": title,
        "sources": ["file:book.txt"],
        "sha256": "a" * 64,
        "strip_gutenberg": False,
    }


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
        (
            {"finetune": {"report_steps": [10, 300]}},
            r"config key finetune.report_steps: 300 is past finetune.steps=200",
        ),
        (
            {"finetune": {"enabled": True, "report_steps": [25, 110, 200]}},
            r"config key finetune.report_steps: the held-out slice is not scored at step 110: "
            r"use multiples of held_out.every=25 or finetune.steps=200",
        ),
        (
            {"held_out": {"fraction": 0}},
            r"config key held_out.fraction: 0 is less than or equal to the minimum of 0",
        ),
        (
            {"finetune": {"enabled": True}, "model": {"vocabulary": "corpus"}},
            r"config key finetune.enabled: fine-tuning starts from the baseline's model, which "
            r"must have model.vocabulary: full and model.head: softmax",
        ),
        (
            {"probe": {"seed": 2**64}},
            r"config key probe.seed: 18446744073709551616 is greater than the maximum of "
            r"9223372036854775807",
        ),
        ({"train": {"steps": "many"}}, r"config key train.steps: 'many' is not of type 'integer'"),
        (
            {"runtime": {"device": "gpu"}},
            r"config key runtime.device: 'gpu' is not one of \['auto', 'cuda', 'cpu'\]",
        ),
        (
            {"train": {"device": "cpu"}},
            r"config key train: Additional properties are not allowed \('device' was unexpected\)",
        ),
        ({"seeds": []}, r"config key seeds: \[\] should be non-empty"),
        ({"seeds": [1, 1]}, r"config key seeds: \[1, 1\] has non-unique elements"),
        ({"seeds": [-1]}, r"config key seeds.0: -1 is less than the minimum of 0"),
        ({"study": "../elsewhere"}, r"config key study: '../elsewhere' does not match"),
        (
            {"variants": {"wide": {"model": {"n_embd": "wide"}}}},
            r"config key variants.wide.model.n_embd: 'wide' is not of type 'integer'",
        ),
        (
            {"variants": {"adaptive": {"model": {"head": "adaptive"}}}},
            r"config key variants.adaptive.model.head: adaptive has output layers of its own, "
            r"without a bias: set tied: false and output_bias: false",
        ),
        (
            {"model": {"vocabulary": "book"}},
            r"config key model.vocabulary: 'book' is not one of \['full', 'corpus'\]",
        ),
        (
            {"variants": {"fast": {"runtime": {"compile": True}}}},
            r"config key variants.fast: Additional properties are not allowed \('runtime' was "
            r"unexpected\); a variant may set only model and train keys of the experiment",
        ),
        (
            {"variants": {"fast": {"train": {"adamw": "loop"}}}},
            r"config key variants.fast.train: Additional properties are not allowed \('adamw' "
            r"was unexpected\); a variant may set only model and train keys",
        ),
        ({"variants": {"a/b": {}}}, r"config key variants: 'a/b' does not match"),
        (
            {"variants": {"baseline": None, "wide": {"model": {"n_head": 7}}}},
            r"config key variants.wide.model.n_head: 7 does not divide n_embd=768",
        ),
        ({"groups": {"size": 0}}, r"config key groups.size: 0 is less than the minimum of 1"),
        ({"corpus": {"sha256": "abc"}}, r"config key corpus.sha256: 'abc' does not match"),
        (
            {"corpus": {"sources": ["ftp://x"]}},
            r"config key corpus.sources.0: 'ftp://x' does not match",
        ),
        ({"model": {"n_head": 5}}, r"config key model.n_head: 5 does not divide n_embd=768"),
        (
            {"runtime": {"fused_head": False}},
            r"config key runtime.pad_vocab: 64 needs runtime.fused_head: true \(or use 1\)",
        ),
        (
            {"runtime": {"compile_mode": "fastest"}},
            r"config key runtime.compile_mode: 'fastest' is not one of \['default', 'reduce-",
        ),
        (
            {
                "tokenizers": {
                    "gpt2": {"format": "tiktoken", "sources": ["file:x"], "sha256": "a" * 64}
                }
            },
            r"config key tokenizers.gpt2: GPT-2's tokenizer is always the study's first \(the "
            r"tokenizer section\): remove this entry, or name another tokenizer",
        ),
        (
            {
                "tokenizers": {
                    "o300k": {"format": "tiktoken", "sources": ["file:x"], "sha256": "a" * 64}
                }
            },
            r"config key tokenizers.o300k: 'o300k' is not one of tiktoken's encodings "
            r"\(cl100k_base, o200k_base, .*\): a tokenizer of format tiktoken is named after the "
            r"encoding its file holds",
        ),
        (
            {"variants": {"baseline": {"train": {"lr": 0.1}}}},
            r"config key variants.baseline: the baseline is the experiment itself and takes no "
            r"overrides: give this variant another name",
        ),
        (
            {"coverage": {"enabled": True, "books": {"again": a_book("Gulliver's Travels")}}},
            r"config key coverage.books.again.title: \"Gulliver's Travels\" is also "
            r"corpus.title: give each book its own title, which names it in the report",
        ),
        (
            {
                "coverage": {
                    "enabled": True,
                    "books": {"twin": a_book("Frankenstein; or, the Modern Prometheus")},
                }
            },
            r"config key coverage.books.twin.title: 'Frankenstein; or, the Modern Prometheus' is "
            r"also coverage.books.frankenstein.title",
        ),
    ],
)
def test_bad_values_name_the_key(default_config, overlay, message):
    with pytest.raises(PipelineError, match=message) as err:
        validate_config(merged(default_config, overlay), SCHEMA)
    assert "\n" not in str(err.value)
    assert str(err.value).endswith(f"(allowed keys and ranges: {SCHEMA})")


def test_the_schema_offers_exactly_the_choices_the_library_knows():
    schema = yaml.safe_load(SCHEMA.read_text())
    runtime = schema["properties"]["runtime"]
    assert runtime["properties"]["precision"]["enum"] == list(PRECISIONS)
    assert sorted(runtime["properties"]["adamw"]["enum"]) == sorted(ADAMW_KERNELS)
    assert runtime["properties"]["compile_mode"]["enum"] == list(COMPILE_MODES)
    assert runtime["properties"]["compile_scope"]["enum"] == list(COMPILE_SCOPES)
    assert runtime["required"] == [f.name for f in fields(Runtime)]
    assert list(schema["$defs"]["model"]["properties"]) == list(MODEL_KEYS)
    assert schema["$defs"]["train"]["properties"]["decay"]["enum"] == list(DECAY)
    assert schema["$defs"]["train"]["properties"]["optimizer"]["enum"] == list(OPTIMIZERS)
    assert list(schema["$defs"]["train"]["properties"]) == [f.name for f in fields(TrainSettings)]


def test_command_line_values_inside_mappings_and_lists_get_their_types(default_config):
    parsed_by_snakemake = {  # what `--config seeds=[0,1] 'train={...}' study=try2` gives
        "seeds": ["0", "1"],
        "train": {"steps": "20", "lr": "3e-3", "freeze_unseen": "True", "decay": "matrices"},
        "study": "try2",
    }
    config = merged(default_config, parsed_by_snakemake)
    validate_config(config, SCHEMA)
    assert config["seeds"] == [0, 1] and config["study"] == "try2"
    train = config["train"]
    assert (train["steps"], train["lr"], train["freeze_unseen"]) == (20, 0.003, True)
    assert type(train["steps"]) is int and type(train["lr"]) is float
    assert train["decay"] == "matrices"  # text where the schema wants text
    with pytest.raises(PipelineError, match="train.freeze_unseen: 'yes' is not of type 'boolean'"):
        validate_config(merged(default_config, {"train": {"freeze_unseen": "yes"}}), SCHEMA)


def test_the_experiment_does_not_depend_on_the_order_of_keys(default_config):
    """Snakemake orders the merged config's keys by the overlays' order; the experiment does not."""

    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        return value

    config = merged(default_config, yaml.safe_load((ROOT / "config" / "offline.yaml").read_text()))
    a, b = experiment(config), experiment(reversed_keys(config))
    assert repr(config) != repr(reversed_keys(config)) and repr(a) == repr(b)
    assert "runtime" not in a and list(a) == sorted(a) and list(a["model"]) == sorted(a["model"])
    assert a["corpus"]["sources"] == config["corpus"]["sources"]  # lists keep their order


def test_an_overlay_that_changes_a_shipped_study_must_name_its_own(default_config):
    offline = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text())
    smoke = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    fast = yaml.safe_load((ROOT / "config" / "fast.yaml").read_text())
    lr = {"train": {"lr": 0.01}}
    named = [("config/offline.yaml", offline, True), ("config/smoke.yaml", smoke, True)]

    def check(*overlays):
        return study_named(default_config, list(overlays), SCHEMA)

    # sources and runtime keys change nothing computed
    check(*named)
    check(*named, ("config/fast.yaml", fast, True))
    check(*named, ("lr.yaml", lr, False), ("--config", {"study": "lr"}, False))
    check(*named, ("same.yaml", {"train": {"lr": 3e-3}}, False))
    as_text = {"train": {"lr": "3e-3", "steps": "150.0"}}  # smoke's own values, typed otherwise
    check(*named, ("--config", as_text, False))
    # under a name of the user's own, later changes are the user's
    check(
        *named, ("mine.yaml", {"study": "mine", **lr}, False), ("--config", {"seeds": [0]}, False)
    )
    with pytest.raises(PipelineError) as err:
        check(*named, ("lr.yaml", lr, False))
    assert str(err.value) == (
        "lr.yaml changes train.lr but names no study, so its results would replace those in "
        "results/smoke/: add study: <new name> to lr.yaml (naming the study smoke there replaces "
        "them on purpose)"
    )
    with pytest.raises(PipelineError, match=r"^--config changes seeds but names no study, .* "):
        check(*named, ("--config", {"seeds": ["0"]}, False))
    with pytest.raises(PipelineError, match="^v.yaml changes variants.lr_high but names no study"):
        check(("v.yaml", {"variants": {"lr_high": lr}}, False))
    with pytest.raises(PipelineError, match=r"^lr.yaml changes train.lr .* results/smoke/"):
        check(("lr.yaml", lr, False), *named)  # a later overlay's name does not cover it
    # a size overlay names the study only where no other does: the user's name stands
    mine = ("mine.yaml", {"study": "mine"}, False)
    assert check(mine, *named, ("--config", {"seeds": [0]}, False)) == "mine"


def test_the_order_of_the_overlays_changes_nothing(default_config):
    """A size overlay (smoke, medium) names the study only where no other overlay does: the
    experiments at the smoke size are the study experiments, in either order."""
    shipped = {
        name: (
            f"config/{name}.yaml",
            yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text()),
            True,
        )
        for name in ("offline", "smoke", "medium", "experiments", "optimizers", "finetune")
    }

    def study(*names):
        return study_named(default_config, [shipped[n] for n in names], SCHEMA)

    assert study("offline", "smoke") == "smoke" and study("medium") == "medium"
    for sizes in (["smoke"], ["medium"]):
        for overlay in ("experiments", "optimizers"):
            assert study("offline", *sizes, overlay) == study(overlay, *sizes) == overlay
    assert study("smoke", "medium") == "medium"  # two sizes: the later, as any repeated key
    assert study("finetune", "smoke") == study("smoke", "finetune") == "smoke"


def test_a_misspelt_key_gets_the_closest_valid_one(default_config):
    cases = {
        ("train", "learning_rate"): "did you mean lr?",
        ("train", "weight_decy"): "did you mean weight_decay?",
        ("model", "n_embed"): "did you mean n_embd?",
    }
    for (section, key), hint in cases.items():
        with pytest.raises(PipelineError) as err:
            validate_config(merged(default_config, {section: {key: 1}}), SCHEMA)
        assert str(err.value).startswith(
            f"config key {section}: Additional properties are not allowed ('{key}' was "
            f"unexpected); {hint}; fix it"
        ), err.value
    variant = {"variants": {"mine": {"train": {"learning_rate": 0.01}}}}
    with pytest.raises(PipelineError, match=r"variants.mine.train: .*; did you mean lr\?; fix"):
        validate_config(merged(default_config, variant), SCHEMA)
    with pytest.raises(PipelineError) as err:  # nothing close: no guess
        validate_config(merged(default_config, {"train": {"zzz": 1}}), SCHEMA)
    assert "did you mean" not in str(err.value)


def test_a_variant_that_repeats_the_baseline_is_refused_by_name(default_config):
    same = {"variants": {"baseline": {}, "lr1e-3": {"train": {"lr": 0.001, "steps": 500}}}}
    with pytest.raises(PipelineError) as err:
        validate_config(merged(default_config, same), SCHEMA)
    assert str(err.value).startswith(
        "config key variants.lr1e-3: it equals the baseline (train.lr: 0.001, train.steps: 500 "
        "is already the experiment's value): change a value, or remove the variant; fix it"
    )
    with pytest.raises(PipelineError, match=r"variants.copy: it equals the baseline: change"):
        validate_config(merged(default_config, {"variants": {"copy": {}}}), SCHEMA)
    differs = {"variants": {"lr1e-2": {"train": {"lr": 0.01, "steps": 500}}}}
    validate_config(merged(default_config, differs), SCHEMA)


def test_numbers_in_exponent_notation_and_integral_floats_are_read_as_meant(default_config):
    overlay = yaml.safe_load(
        "train: {lr: 3e-4, steps: 500.0, weight_decay: 1E-2}\nseeds: [0.0, 1]\n"
    )
    assert (
        overlay["train"]["lr"] == "3e-4"
    )  # YAML 1.1 reads exponent notation without a dot as text
    config = merged(default_config, overlay)
    validate_config(config, SCHEMA)
    assert config["train"] == {
        **default_config["train"],
        "lr": 3e-4,
        "steps": 500,
        "weight_decay": 0.01,
    }
    assert type(config["train"]["steps"]) is int and config["seeds"] == [0, 1]
    with pytest.raises(
        PipelineError, match=r"config key train.steps: 500.5 is not of type 'integer'"
    ):
        validate_config(merged(default_config, {"train": {"steps": 500.5}}), SCHEMA)
    with pytest.raises(PipelineError, match=r"config key train.lr: 'fast' is not of type 'number'"):
        validate_config(merged(default_config, {"train": {"lr": "fast"}}), SCHEMA)


@pytest.mark.parametrize("cache", ["", "/tmp/cache", "results/../workflow", "workflow", ".cache"])
def test_the_compile_cache_stays_under_results(default_config, cache):
    validate_config(merged(default_config, {"runtime": {"compile_cache": "results/x/y"}}), SCHEMA)
    with pytest.raises(PipelineError) as err:
        validate_config(merged(default_config, {"runtime": {"compile_cache": cache}}), SCHEMA)
    assert str(err.value).startswith(
        f"config key runtime.compile_cache: {cache!r} is not a folder under results/, where the "
        "pipeline writes everything (the default: results/.torch-compile)"
    )


def test_the_optimizers_overlay_compares_the_experiments_own_variants(default_config):
    """config/optimizers.yaml runs two of config/experiments.yaml's variants on their own: each
    defined exactly as there, so that the two studies compare the same thing."""
    config = ROOT / "config"
    experiments = yaml.safe_load((config / "experiments.yaml").read_text())["variants"]
    optimizers = yaml.safe_load((config / "optimizers.yaml").read_text())
    assert list(optimizers["variants"]) == ["baseline", "sgd"]
    for name, overrides in optimizers["variants"].items():
        assert overrides == experiments[name], name
    assert optimizers["seeds"] == [0, 1, 2]
    medium = yaml.safe_load((config / "medium.yaml").read_text())
    validate_config(merged(merged(default_config, medium), optimizers), SCHEMA)


@pytest.mark.parametrize("section", ["corpus", "finetune.corpus"])
def test_another_book_must_come_with_its_title(default_config, section):
    book = {"sources": ["file:book.txt"], "sha256": "0" * 64}
    overlay = (
        {"study": "mine", "corpus": book}
        if section == "corpus"
        else {
            "study": "mine",
            "finetune": {"corpus": book},
        }
    )
    with pytest.raises(PipelineError) as err:
        study_named(default_config, [("mine.yaml", overlay, False)], SCHEMA)
    assert str(err.value) == (
        f"mine.yaml changes {section}.sha256 (another book) but not {section}.title, so the "
        f"report would name the book it replaces: add title: <the book's title> to {section} "
        "in mine.yaml"
    )
    book["title"] = "My Book"
    study_named(default_config, [("mine.yaml", overlay, False)], SCHEMA)


def numeric_keys():
    """Every key whose schema type is a number (the reference's leaves), by dotted path."""
    schema = yaml.safe_load(SCHEMA.read_text())
    return [key for key, node in leaves(schema) if node.get("type") in ("number", "integer")]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_no_numeric_key_takes_nan_or_infinity(default_config, value):
    keys = numeric_keys()
    assert {"train.lr", "runtime.cpu_limit_hours", "download.timeout_s", "groups.size"} <= set(keys)
    for key in keys:
        section, _, name = key.rpartition(".")
        overlay = {name: value}
        for part in reversed(section.split(".") if section else []):
            overlay = {part: overlay}
        with pytest.raises(PipelineError) as err:
            validate_config(merged(default_config, overlay), SCHEMA)
        assert str(err.value).startswith(
            f"config key {key}: NaN and infinity mean nothing here: give a finite number; fix it"
        ), key


@pytest.mark.parametrize("name", ["nl\n", "a" * 101, "tab\there", ".hidden"])
def test_a_study_or_variant_name_is_a_plain_folder_name(default_config, name):
    for overlay, key in (
        ({"study": name}, "study"),
        ({"variants": {"baseline": {}, name: {"train": {"lr": 0.5}}}}, "variants"),
    ):
        with pytest.raises(PipelineError, match=rf"^config key {key}: "):
            validate_config(merged(default_config, overlay), SCHEMA)
    validate_config(merged(default_config, {"study": "a" * 100}), SCHEMA)


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        ({"coverage": {"books": {"pretrain": None}}}, "coverage.books"),
        (
            {"tokenizers": {"gpt2": {"format": "tiktoken", "sources": ["file:x"], "sha256": SHA}}},
            "tokenizers",
        ),
        (
            {"tokenizers": {"x": {"format": "bpe", "sources": ["file:x"], "sha256": SHA}}},
            "tokenizers.x.format",
        ),
        ({"tokenizers": {"x": {"format": "tiktoken", "sources": ["file:x"]}}}, "tokenizers.x"),
        ({"coverage": {"orders": -1}}, "coverage.orders"),
    ],
    ids=[
        "a-book-named-as-the-studys-own",
        "a-second-gpt2",
        "an-unknown-format",
        "no-sha256",
        "negative-orders",
    ],
)
def test_books_and_tokenizers_refuse_names_the_study_uses_itself(default_config, overlay, key):
    if "books" in overlay.get("coverage", {}):
        overlay["coverage"]["books"]["pretrain"] = default_config["corpus"]
    with pytest.raises(PipelineError, match=rf"^config key {key}"):
        validate_config(merged(default_config, overlay), SCHEMA)


def test_a_books_or_tokenizers_sources_are_where_it_comes_from_not_what_it_computes(
    default_config,
):
    overlay = {
        "coverage": {"books": {"frankenstein": {"sources": ["file:84-0.txt"]}}, "enabled": True}
    }
    assert changed_keys(default_config, overlay) == []
    shipped = yaml.safe_load((ROOT / "config" / "tokenizers.yaml").read_text())["tokenizers"]
    with_one = merged(default_config, {"tokenizers": {"cl100k_base": shipped["cl100k_base"]}})
    moved = {"tokenizers": {"cl100k_base": {"sources": ["package://tiktoken_ext/data/x"]}}}
    assert changed_keys(with_one, moved) == []
    assert changed_keys(default_config, {"tokenizers": shipped}) == [
        "tokenizers.cl100k_base",
        "tokenizers.mistral_v1",
        "tokenizers.tekken",
    ]
    assert changed_keys(default_config, {"coverage": {"orders": 5}}) == ["coverage.orders"]


def test_a_tokenizer_of_an_earlier_config_file_is_left_out_with_null(default_config):
    shipped = yaml.safe_load((ROOT / "config" / "tokenizers.yaml").read_text())
    config = merged(merged(default_config, shipped), {"tokenizers": {"mistral_v1": None}})
    validate_config(config, SCHEMA)
    assert config["tokenizers"] == shipped["tokenizers"] | {"mistral_v1": None}


def test_the_studys_tokenizers_are_gpt2s_then_each_added_one_not_left_out(default_config):
    assert study_tokenizers(default_config) == ("gpt2",)
    shipped = yaml.safe_load((ROOT / "config" / "tokenizers.yaml").read_text())
    config = merged(default_config, shipped)
    assert study_tokenizers(config) == ("gpt2", "cl100k_base", "mistral_v1", "tekken")
    without = merged(config, {"tokenizers": {"cl100k_base": None}})
    assert study_tokenizers(without) == ("gpt2", "mistral_v1", "tekken")
