"""The speed options of a training step change its speed, not its numbers (in fp32, on the CPU).

bf16 against fp32 is in test_precision.py.
"""

import csv
import re
import sys
from dataclasses import replace

import pytest
import torch
import yaml

from conftest import ROOT, merged
from unused_tokens.data.frequency import inverse_frequency_weights, unigram_log_probs
from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import BASELINE, FAST, PIPELINE, StepOptions
from unused_tokens.pipeline.study import Runtime, TrainSettings
from unused_tokens.training.batches import random_windows
from unused_tokens.training.hardware import resolve_precision
from unused_tokens.training.step import TrainStep, compilations

CFG = GPTConfig(vocab_size=512, context=16, n_embd=32, n_head=2, n_layer=1)
GROUPS = {"most_common": [1, 2, 3], "least_common": [40, 41], "never_used": [500, 501]}
TOLERANCE = 1e-4  # nats, on every logged quantity after 50 steps
SETTINGS = TrainSettings(steps=50, batch_size=4, lr=3e-3, weight_decay=0.01)


def run(options, steps=50, cfg=CFG):
    step = TrainStep(build_model(cfg, seed=0), GROUPS, SETTINGS, "cpu", options)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 60, (5000,), generator=generator)
    rows = []
    for i in range(steps + 1):  # as in training: the last step measures, without an update
        rows.append(step(*random_windows(tokens, 4, cfg.context, generator), update=i < steps))
    return torch.stack(rows)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(StepOptions(), id="full-log-softmax"),
        pytest.param(PIPELINE, id="pipeline"),
        pytest.param(FAST, id="fast", marks=pytest.mark.compile),
        pytest.param(
            replace(FAST, compile_scope="blocks"), id="fast-blocks", marks=pytest.mark.compile
        ),
    ],
)
def test_faster_steps_log_the_same_numbers_as_the_baseline(options):
    baseline, other = run(BASELINE), run(replace(options, precision="fp32"))
    assert baseline[-1, 0] < baseline[0, 0] - 1  # it did learn
    torch.testing.assert_close(other, baseline, rtol=0, atol=TOLERANCE)


def one_update(settings):
    """(parameters before, after, the step's gradients) of one update of a fresh model, fp32."""
    step = TrainStep(build_model(CFG, seed=0), GROUPS, settings, "cpu", BASELINE)
    before = {n: p.detach().clone() for n, p in step.model.named_parameters()}
    tokens = torch.randint(0, 60, (500,), generator=torch.Generator().manual_seed(0))
    step(*random_windows(tokens, 4, CFG.context, torch.Generator().manual_seed(1)))
    after = dict(step.model.named_parameters())
    return before, {n: p.detach() for n, p in after.items()}, {n: p.grad for n, p in after.items()}


@pytest.mark.parametrize("eps", [1e-8, 1.0])
def test_adamws_first_update_is_its_scale_free_step_with_the_configured_epsilon(eps):
    """Bias-corrected, AdamW's first step is lr * g / (|g| + eps), after decoupled decay."""
    settings = replace(SETTINGS, adam_eps=eps)
    before, after, grads = one_update(settings)
    lr, wd = settings.lr, settings.weight_decay
    for name, p in before.items():
        g = grads[name]
        expected = p * (1 - lr * wd) - lr * g / (g.abs() + eps)
        torch.testing.assert_close(after[name], expected, rtol=0, atol=1e-6, msg=name)


def test_sgds_first_update_is_proportional_to_the_gradient():
    """SGD with momentum starts its buffer at the gradient (plus the L2 term of weight decay)."""
    settings = replace(SETTINGS, optimizer="sgd", lr=0.1, momentum=0.9, decay="matrices")
    before, after, grads = one_update(settings)
    for name, p in before.items():
        wd = settings.weight_decay if p.dim() == 2 and name.startswith("blocks.") else 0.0
        expected = p - settings.lr * (grads[name] + wd * p)
        torch.testing.assert_close(after[name], expected, rtol=0, atol=1e-6, msg=name)
    with pytest.raises(ValueError, match=r"optimizer='lion' is not one of \('adamw', 'sgd'\)"):
        TrainStep(build_model(CFG, 0), GROUPS, replace(settings, optimizer="lion"), "cpu")


@pytest.mark.compile
@pytest.mark.parametrize("scope", ["model", "blocks"])
def test_the_step_without_update_compiles_nothing(scope):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    options = replace(FAST, precision="fp32", compile_scope=scope)
    step = TrainStep(build_model(CFG, seed=0), GROUPS, SETTINGS, "cpu", options)
    x, y = random_windows(torch.arange(60), 4, CFG.context, torch.Generator().manual_seed(0))
    step(x, y)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs >= 2  # the body (or block) and the head's statistics
    step(x, y, update=False)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs


@pytest.mark.compile
def test_compiled_blocks_share_one_graph():
    """compile_scope "blocks": three blocks compile as many graphs as one, to the same numbers."""
    graphs = {}
    for n_layer in (1, 3):
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        cfg = replace(CFG, n_layer=n_layer)
        options = replace(FAST, precision="fp32", compile_scope="blocks")
        blocks, whole = run(options, steps=3, cfg=cfg), run(BASELINE, steps=3, cfg=cfg)
        torch.testing.assert_close(blocks, whole, rtol=0, atol=TOLERANCE)
        graphs[n_layer] = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs[1] == graphs[3] >= 2  # the block's graph and the head's statistics


COUNTS = torch.bincount(torch.arange(60), minlength=512).numpy() * 80  # ids 60.. never occur
VARIANTS = {  # name: (model config, (build_model's output bias, frozen rows, token weights))
    "untied": (replace(CFG, tied=False), (None, None, None)),
    "frozen_unseen": (CFG, (None, torch.arange(60, 512), None)),
    "unigram_bias": (replace(CFG, output_bias=True), (unigram_log_probs(COUNTS), None, None)),
    "inverse_frequency": (CFG, (None, None, torch.from_numpy(inverse_frequency_weights(COUNTS)))),
    "pruned_vocabulary": (replace(CFG, vocabulary="corpus", vocab_size=60), (None, None, None)),
}


@pytest.mark.compile
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_logs_the_same_numbers_under_the_fast_step(variant):
    """The fused head and compilation support each variant: no silent change of what is
    computed (the adaptive softmax falls back instead: test_vocabulary.py)."""
    cfg, (bias, frozen, weights) = VARIANTS[variant]
    rows = {}
    for name, options in (("baseline", BASELINE), ("fast", replace(FAST, precision="fp32"))):
        model = build_model(cfg, seed=0, output_bias=bias)
        groups = {**GROUPS, "never_used": []} if cfg.vocabulary == "corpus" else GROUPS
        step = TrainStep(model, groups, SETTINGS, "cpu", options, frozen, weights)
        generator = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, 60, (5000,), generator=generator)
        rows[name] = torch.stack(
            [step(*random_windows(tokens, 4, CFG.context, generator)) for _ in range(21)]
        )
    torch.testing.assert_close(
        rows["fast"], rows["baseline"], rtol=0, atol=TOLERANCE, equal_nan=True
    )


def test_the_fast_overlay_trains_with_the_fast_step(default_config):
    fast = yaml.safe_load((ROOT / "config" / "fast.yaml").read_text())
    assert Runtime.from_config(merged(default_config, fast)).step_options("auto") == FAST


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "fp16"}, "precision='fp16' is not one of ('auto', 'fp32', 'bf16')"),
        ({"adamw": "foreach"}, "adamw='foreach' is not one of ['default', 'loop', 'fused']"),
        ({"compile_mode": "fast"}, "compile_mode='fast' is not one of ('default', "),
        ({"compile_scope": "layers"}, "compile_scope='layers' is not one of ('model', 'blocks')"),
        ({"pad_vocab": 64}, "pad_vocab=64 needs fused_head and must be >= 1"),
        ({"pad_vocab": 0, "fused_head": True}, "pad_vocab=0 needs fused_head and must be >= 1"),
    ],
)
def test_impossible_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        StepOptions(**options)


def three_significant_digits(text):
    """Whether `text` is a positive number written with three significant digits (or more
    integer digits), without an exponent."""
    return re.fullmatch(r"[1-9]\d\d+|[1-9]\.\d\d|[1-9]\d\.\d|0\.0*[1-9]\d\d", text) is not None


@pytest.mark.parametrize(
    ("value", "printed", "kept"),
    [
        (0.0041234, "0.00412", 0.00412),
        (4.1234, "4.12", 4.12),
        (41.25, "41.2", 41.2),
        (412.34, "412", 412.0),
        (41234.0, "41234", 41200.0),
        (0.09996, "0.100", 0.1),  # rounding up to the next power of ten
        (9.996, "10.0", 10.0),
    ],
)
def test_benchmark_figures_keep_three_significant_digits(value, printed, kept):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from rows import figure, significant

    assert figure(value) == printed and three_significant_digits(printed)
    assert significant(value) == kept


def test_benchmark_script_prints_and_appends_its_figures(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import train_step

    out = tmp_path / "results.csv"
    out.write_text("date,device,variant\n2026-01-01,cpu,baseline\n")  # an older, narrower file
    for _ in range(2):
        train_step.main(
            ["--preset", "tiny", "--steps", "2", "--variants", "baseline", "pipeline"]
            + ["--top", "3", "--out", str(out)]
        )
    printed = capsys.readouterr().out
    peaks = re.findall(r"peak (fp32|bf16): (\S+) TFLOP/s \(measured \1 4096x768x768", printed)
    assert [name for name, _ in peaks] == ["fp32", "bf16"] * 2
    assert all(three_significant_digits(value) for _, value in peaks), peaks
    auto = resolve_precision("auto", "cpu").name
    assert re.search(rf"^pipeline +{auto}  median", printed, flags=re.MULTILINE)
    assert re.search(r"^baseline +fp32  median", printed, flags=re.MULTILINE)
    old, *rows = list(csv.DictReader(out.open()))
    assert old["variant"] == "baseline" and old["precision"] == old["mfu"] == ""
    assert [r["variant"] for r in rows] == ["baseline", "pipeline"] * 2
    assert [r["precision"] for r in rows] == ["fp32", auto] * 2
    assert all(float(r["median_step_ms"]) > 0 and int(r["tokens_per_s"]) > 0 for r in rows)
    assert all(0 < float(r["mfu"]) < 1 and r["peak_source"].startswith("measured") for r in rows)
    printed_peaks = dict(peaks[2:])  # the second run's, which wrote rows[2:]
    assert [float(r["peak_tflops"]) for r in rows[2:]] == [
        float(printed_peaks[r["precision"]]) for r in rows[2:]
    ]
    assert rows[0]["speedup"] == "1.0"
    assert rows[1]["options"] == (
        "precision=auto math_attention=False adamw=fused compile=False compile_mode=default "
        "compile_scope=model fused_head=True pad_vocab=64"
    )
    # the profile: three entries per variant, printed and kept, shares of one step's time
    shares = re.findall(r"^ +(\d+\.\d)% +\d+\.\d ms  (\S+)", printed, flags=re.MULTILINE)
    assert len(shares) == 3 * 4 and all(0 < float(share) <= 100 for share, _ in shares)
    assert all(len(r["profile_top"].split("; ")) == 3 for r in rows)
    assert rows[0]["profile_top"].split("; ")[0].startswith(shares[0][1])


@pytest.mark.compile
def test_a_call_that_compiles_raises_the_count_and_a_cached_call_does_not():
    """What the progress's clock tells a step that compiled by (progress.py)."""
    double = torch.compile(lambda x: x * 2 + 1)
    before = compilations()
    double(torch.ones(3))
    compiled = compilations()
    double(torch.ones(3))
    assert compiled > before and compilations() == compiled
