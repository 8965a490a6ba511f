"""On a GPU: bf16 steps agree with the fp32 baseline, and CUDA graphs are really captured.

Skipped without CUDA (CI has none); benchmarks/gpu_check.sh runs these on a GPU machine.
"""

import pytest
import torch
import torch.nn.functional as F

from unused_tokens.batches import random_windows, to_device
from unused_tokens.head import fused_head
from unused_tokens.model import GPTConfig, build_model
from unused_tokens.step import BASELINE, FAST, PIPELINE, TrainStep

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA: run benchmarks/gpu_check.sh on a GPU"
)
CFG = GPTConfig(vocab_size=50257, context=64, n_embd=128, n_head=4, n_layer=2)
GROUPS = {"most_common": [11, 13, 262], "least_common": [4000, 4001], "never_used": [50000, 50001]}
BF16_TOLERANCE = 1e-2  # nats, on the untrained step's loss and group means


def run(options, steps):
    step = TrainStep(build_model(CFG, seed=0), GROUPS, 3e-3, 0.01, "cuda", options)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 5000, (20_000,), generator=generator)
    rows = []
    for i in range(steps + 1):
        x, y = (to_device(t, "cuda") for t in random_windows(tokens, 8, CFG.context, generator))
        rows.append(step(x, y, update=i < steps))
    return torch.stack(rows).cpu()


@pytest.mark.parametrize("options", [PIPELINE, FAST], ids=["pipeline", "fast"])
def test_bf16_steps_agree_with_the_fp32_baseline(options):
    baseline, other = run(BASELINE, 50), run(options, 50)
    torch.testing.assert_close(other[0], baseline[0], rtol=0, atol=BF16_TOLERANCE)
    assert abs(other[-1, 0] - baseline[-1, 0]) < 0.05  # the same loss after 50 steps
    assert baseline[-1, 0] < baseline[0, 0] - 1  # it did learn


def test_fast_step_captures_cuda_graphs():
    torch._dynamo.reset()
    run(FAST, 5)
    assert torch._dynamo.utils.counters["inductor"]["cudagraph_skips"] == 0


def test_bf16_fused_head_on_cuda_matches_the_fp32_log_softmax():
    model = build_model(CFG, seed=0).cuda()
    x, y = torch.randint(CFG.vocab_size, (2, 8, CFG.context), device="cuda")
    columns = torch.tensor([0, 11, 4000, 50256], device="cuda")
    with torch.no_grad():
        log_probs = model(x)
        loss, probes = fused_head(model.hidden(x), model.wte.weight, y, columns, torch.bfloat16, 64)
    expected_loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten()).item()
    assert loss.item() == pytest.approx(expected_loss, abs=1e-3)
    torch.testing.assert_close(probes, log_probs[..., columns], rtol=0, atol=2e-3)
