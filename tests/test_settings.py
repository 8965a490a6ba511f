"""The study's typed settings: variants merged over the experiment, seeds, runtime, params."""

import numpy as np
import pytest

from conftest import merged
from unused_tokens.pipeline.step_options import PIPELINE
from unused_tokens.pipeline.study import Run, Runtime, Study, TrainSettings, derived_seed


@pytest.fixture
def study(default_config):
    overlay = {
        "seeds": [3, 5],
        "variants": {
            "wide": {"model": {"n_embd": 1024, "n_head": 16}},
            "slow": {"train": {"lr": 1e-4}},
        },
    }
    return Study.from_config(merged(default_config, overlay))


def test_runs_are_every_variant_times_every_seed_in_config_order(study):
    assert study.runs() == [
        ("baseline", 3),
        ("baseline", 5),
        ("wide", 3),
        ("wide", 5),
        ("slow", 3),
        ("slow", 5),
    ]


def test_a_variant_overrides_only_its_keys(study):
    base, wide, slow = (study.run(name, "5") for name in ("baseline", "wide", "slow"))
    assert base.model == {
        "context": 256,
        "n_embd": 768,
        "n_head": 12,
        "n_layer": 12,
        "tied": True,
        "output_bias": False,
        "vocabulary": "full",
        "head": "softmax",
    }
    assert wide.model == {
        "context": 256,
        "n_embd": 1024,
        "n_head": 16,
        "n_layer": 12,
        "tied": True,
        "output_bias": False,
        "vocabulary": "full",
        "head": "softmax",
    }
    assert wide.train == base.train == TrainSettings(500, 16, 0.001, 0.01)
    assert slow.train == TrainSettings(500, 16, 1e-4, 0.01) and slow.model == base.model
    assert slow.seed == 5 and slow.model_config(50257).n_embd == 768


def test_a_seed_gives_two_documented_independent_streams():
    run = Run("baseline", 7, {}, None)
    expected = [
        int(np.random.SeedSequence([7, stream]).generate_state(1, np.uint64)[0] >> 1)
        for stream in (0, 1)
    ]
    assert [run.init_seed, run.window_seed] == expected
    assert run.init_seed != run.window_seed and 0 <= run.init_seed < 2**63
    assert derived_seed(8, 0) != derived_seed(7, 0)


def test_params_round_trip_and_the_probes_leave_training_out(study):
    run = study.run("slow", 3)
    assert Run.from_params(run.as_params()) == run
    untrained = run.as_params(untrained=True)
    assert untrained["train"] is None and Run.from_params(untrained).model == run.model


def test_the_default_runtime_trains_with_the_pipeline_step(default_config):
    assert Runtime.from_config(default_config).step_options("auto") == PIPELINE


def test_a_variant_written_empty_is_the_experiment(default_config):
    study = Study.from_config(merged(default_config, {"variants": {"same": None}}))
    assert study.run("same", 0) == Run(
        "same", 0, study.run("baseline", 0).model, study.run("baseline", 0).train
    )
