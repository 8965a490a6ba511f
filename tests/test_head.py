"""The fused head gives the plain head's loss, probe columns and gradients, chunked and padded."""

import pytest
import torch
import torch.nn.functional as F

from unused_tokens.model.gpt import build_model
from unused_tokens.model.head import HeadPlan, block_statistics, fused_head, output_sums
from unused_tokens.pipeline.model_config import GPTConfig

CFG = GPTConfig(vocab_size=101, context=8, n_embd=16, n_head=2, n_layer=1)
COLUMNS = torch.tensor([0, 5, 7, 100])


def batch(cfg, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(cfg.vocab_size, (3, cfg.context), generator=generator) for _ in "xy")


def plain(model, x, y):
    """Loss, columns and parameter gradients from the full log-softmax (model.forward)."""
    model.zero_grad()
    log_probs = model(x)
    loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten())
    loss.backward()
    return loss.detach(), log_probs[..., COLUMNS].detach(), [p.grad for p in model.parameters()]


def fused(model, x, y, **kwargs):
    model.zero_grad()
    loss, _, columns, _ = fused_head(model.hidden(x), model.wte.weight, y, COLUMNS, **kwargs)
    loss.backward()
    return loss.detach(), columns, [p.grad for p in model.parameters()]


PLANS = {
    "one-chunk": HeadPlan(pad=1, chunk=2048, block=2048),
    "padded-to-64-uneven-chunks-and-blocks": HeadPlan(pad=64, chunk=7, block=3),
    "padded-to-7-row-by-row": HeadPlan(pad=7, chunk=5, block=1),
}


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS)
def test_fused_head_equals_the_full_log_softmax_in_fp32(plan):
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    expected, got = plain(model, x, y), fused(model, x, y, plan=plan)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=1e-6)
    assert got[1].shape == (3, CFG.context, len(COLUMNS)) and not got[1].requires_grad
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=1e-6)
    for got_grad, expected_grad in zip(got[2], expected[2], strict=True):
        assert got_grad.shape == expected_grad.shape  # padding rows never reach the model
        torch.testing.assert_close(got_grad, expected_grad, rtol=0, atol=1e-7)


@pytest.mark.compile
def test_compiled_block_statistics_give_the_same_numbers():
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    compiled = torch.compile(block_statistics)
    plan = PLANS["padded-to-64-uneven-chunks-and-blocks"]
    expected, got = plain(model, x, y), fused(model, x, y, plan=plan, statistics=compiled)
    for got_value, expected_value in zip(got, expected, strict=True):
        torch.testing.assert_close(got_value, expected_value, rtol=0, atol=1e-6)


def test_bf16_products_keep_untrained_probe_values_within_bf16_tolerance():
    cfg = GPTConfig(vocab_size=50257, context=16, n_embd=64, n_head=2, n_layer=1)
    model = build_model(cfg, seed=0)
    x, y = batch(cfg)
    with torch.no_grad():
        log_probs = model(x)
        plan = HeadPlan(torch.bfloat16, pad=64, chunk=20, block=6)
        loss, _, columns, _ = fused_head(model.hidden(x), model.wte.weight, y, COLUMNS, plan)
    expected_loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten()).item()
    assert loss.item() == pytest.approx(expected_loss, abs=1e-3)
    torch.testing.assert_close(columns, log_probs[..., COLUMNS], rtol=0, atol=2e-3)


def test_without_grad_nothing_is_kept_for_a_backward_pass():
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    with torch.no_grad():
        loss, _, columns, _ = fused_head(model.hidden(x), model.wte.weight, y, COLUMNS, HeadPlan())
    assert not loss.requires_grad and loss.grad_fn is None
    torch.testing.assert_close(loss, plain(model, x, y)[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS)
def test_output_sums_equal_the_full_log_softmax_and_logits_summed(plan):
    model = build_model(CFG, seed=0)
    x, _ = batch(CFG)
    bias = torch.linspace(-2, 1, CFG.vocab_size)
    with torch.no_grad():
        logits = model.hidden(x).double() @ model.wte.weight.double().T + bias.double()
        within = torch.arange(CFG.vocab_size) % 3 == 0
        got = output_sums(model.hidden(x), model.wte.weight, plan, bias, within)
    for total in got[:2]:
        assert total.dtype == torch.float64 and total.shape == (CFG.vocab_size,)
    expected = logits.log_softmax(dim=-1).sum(dim=(0, 1))
    torch.testing.assert_close(got.log_probs, expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(got.logits, logits.sum(dim=(0, 1)), rtol=0, atol=1e-4)
    normaliser = got.logits - got.log_probs  # every id's: the positions' summed logsumexp
    torch.testing.assert_close(normaliser, logits.logsumexp(dim=-1).sum().expand(CFG.vocab_size))
    subset = logits[..., within].logsumexp(dim=-1).sum()  # over every third id only
    torch.testing.assert_close(got.within, subset, rtol=0, atol=1e-4)
    with torch.no_grad():  # without a bias: the model's own log-softmax
        plain = output_sums(model.hidden(x), model.wte.weight, plan)
        torch.testing.assert_close(
            plain.log_probs, model(x).double().sum(dim=(0, 1)), rtol=0, atol=1e-5
        )
        assert plain.within.isnan()  # no subset asked for


@pytest.mark.parametrize(
    ("capabilities", "block"),
    [({"l2_cache_size": 2 * 2**20}, 20), ({"l2_cache_size": 0}, 10), ({}, 10)],
    ids=["2-MiB-L2", "L2-reported-as-0", "L2-unknown"],
)
def test_a_cpu_block_holds_as_many_fp32_rows_as_the_threads_l2_caches(
    monkeypatch, capabilities, block
):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    plan = HeadPlan.for_device("cpu", torch.bfloat16, pad=64, vocab=50257)
    assert plan == HeadPlan(torch.bfloat16, pad=64, chunk=4096, block=block)  # rows of 50,304
    assert HeadPlan.for_device("cpu", vocab=10**9).block == 1


def test_a_cuda_chunk_is_one_block():
    assert HeadPlan.for_device("cuda", pad=64) == HeadPlan(torch.float32, 64, 2048, 2048)
