"""bf16 where the hardware has it: how `auto` chooses, and numbers that agree with fp32.

The agreement tests run on the CPU in every CI run and, where there is one, on a CUDA GPU
(benchmarks/gpu_check.sh); whether CUDA graphs are captured is checked on the GPU only.
"""

import functools
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch._inductor.cudagraph_trees import get_manager

from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import BASELINE, FAST, PIPELINE
from unused_tokens.pipeline.study import ProbeSettings, TrainSettings
from unused_tokens.training.batches import random_windows, to_device
from unused_tokens.training.hardware import resolve_precision
from unused_tokens.training.probe import probe_groups, vocab_means
from unused_tokens.training.step import TrainStep

NO_CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA: run benchmarks/gpu_check.sh on a GPU"
)
DEVICES = ["cpu", pytest.param("cuda", marks=NO_CUDA)]
# A small model: the agreement does not depend on the size, and where bf16 is emulated (a CPU
# without AMX-BF16 or AVX512-BF16) its products are tens of times slower than fp32. 1,000 ids
# (padded to 1,024), of which the stream uses the first 100.
CFG = GPTConfig(vocab_size=1000, context=32, n_embd=64, n_head=4, n_layer=2)
GROUPS = {"most_common": [11, 13, 62], "least_common": [97, 98], "never_used": [900, 901]}
BF16_TOLERANCE = 1e-2  # nats, on the untrained step's loss and group means and the probes
PROBE = ProbeSettings(batches=2, batch_size=4, seed=1)
SETTINGS = TrainSettings(steps=50, batch_size=8, lr=3e-3, weight_decay=0.01)
TOKENS = torch.randint(0, 100, (20_000,), generator=torch.Generator().manual_seed(0))


def log_rows(step, steps, device):
    """The log rows of `steps` updates and one more measurement, from seeded batches."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for i in range(steps + 1):
        x, y = (to_device(t, device) for t in random_windows(TOKENS, 8, CFG.context, generator))
        rows.append(step(x, y, update=i < steps))
    return torch.stack(rows).cpu()


@functools.cache
def run(options, steps, device):
    """log_rows of a fresh step with `options` from one initialisation (cached per arguments)."""
    step = TrainStep(build_model(CFG, seed=0), GROUPS, SETTINGS, device, options)
    return log_rows(step, steps, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(PIPELINE, id="pipeline"),
        pytest.param(FAST, id="fast", marks=pytest.mark.compile),
    ],
)
def test_bf16_steps_agree_with_the_fp32_baseline(options, device):
    baseline, other = run(BASELINE, 50, device), run(replace(options, precision="bf16"), 50, device)
    torch.testing.assert_close(other[0], baseline[0], rtol=0, atol=BF16_TOLERANCE)
    assert abs(other[-1, 0] - baseline[-1, 0]) < 0.05  # the same loss after 50 steps
    assert baseline[-1, 0] < baseline[0, 0] - 1  # it did learn
    assert not torch.equal(other, baseline)  # and bf16 did run


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_probes_agree_with_fp32(device):
    model = build_model(CFG, seed=0)
    probes = {
        name: probe_groups(model, TOKENS, GROUPS, PROBE, resolve_precision(name, device))
        for name in ("fp32", "bf16")
    }
    columns = ["masked_mean", "unmasked_mean"]
    difference = probes["bf16"][0][columns] - probes["fp32"][0][columns]
    assert 0 < difference.abs().max().max() < BF16_TOLERANCE
    counts = np.bincount(TOKENS.numpy(), minlength=CFG.vocab_size)
    means = {
        name: vocab_means(model, TOKENS, PROBE, resolve_precision(name, device), counts)
        for name in ("fp32", "bf16")
    }
    for kind in range(3):  # mean log-probabilities, logits, renormalised log-probabilities
        difference = np.abs(means["bf16"][kind] - means["fp32"][kind])[counts > 0]
        assert 0 < difference.max() < BF16_TOLERANCE


@NO_CUDA
@pytest.mark.compile
def test_fast_step_captures_cuda_graphs():
    torch._dynamo.reset()
    step = TrainStep(build_model(CFG, seed=0), GROUPS, SETTINGS, "cuda", FAST)
    log_rows(step, 5, "cuda")
    manager = get_manager(torch.cuda.current_device(), create_if_none_exists=False)
    assert manager is not None and list(manager.get_roots())  # graphs were recorded...
    assert torch._dynamo.utils.counters["inductor"]["cudagraph_skips"] == 0  # ...none skipped


AMX = {"amx_bf16": True, "avx512_bf16": True}


@pytest.mark.parametrize(
    ("features", "cap", "name", "reason"),
    [
        (AMX, None, "bf16", "auto: this CPU has amx_bf16 and avx512_bf16"),
        ({"avx512_bf16": True}, None, "bf16", "auto: this CPU has avx512_bf16"),
        ({"avx512_f": True}, None, "fp32", "auto: this CPU has none of amx_bf16, avx512_bf16"),
        (
            AMX,
            "avx2",
            "fp32",
            "auto: this CPU has amx_bf16 and avx512_bf16, but "
            "ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN off them",
        ),
        (
            AMX,
            "AVX512_CORE_VNNI",
            "fp32",
            "auto: this CPU has amx_bf16 and avx512_bf16, but "
            "ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI keeps oneDNN off them",
        ),
        (AMX, "AVX512_CORE_BF16", "bf16", "auto: this CPU has amx_bf16 and avx512_bf16"),
        ({"avx512_f": True}, "ALL", "fp32", "auto: this CPU has none of amx_bf16, avx512_bf16"),
    ],
    ids=[
        "amx",
        "avx512-bf16",
        "no-native-bf16",
        "capped-at-avx2",
        "capped-below-bf16",
        "capped-at-bf16",
        "no-native-bf16-uncapped",
    ],
)
def test_auto_takes_bf16_on_a_cpu_with_native_bf16_matrix_instructions_that_onednn_may_use(
    monkeypatch, features, cap, name, reason
):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: features)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    precision = resolve_precision("auto", "cpu")
    assert precision.name == name and precision.reason == reason
    assert precision.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def test_an_explicit_precision_is_kept_and_emulated_bf16_is_named(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {})
    assert resolve_precision("fp32", "cpu").name == "fp32"
    bf16 = resolve_precision("bf16", "cpu")
    assert bf16.name == "bf16" and bf16.reason.endswith("emulated and slower than fp32")
    assert str(bf16).startswith("bf16 (asked for; this CPU has none of amx_bf16")
