"""The fused head gives the plain head's loss, probe columns and gradients, chunked and padded."""

import pytest
import torch
import torch.nn.functional as F

from unused_tokens.head import chunk_statistics, fused_head
from unused_tokens.model import GPTConfig, build_model

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
    loss, columns = fused_head(model.hidden(x), model.wte.weight, y, COLUMNS, **kwargs)
    loss.backward()
    return loss.detach(), columns, [p.grad for p in model.parameters()]


@pytest.mark.parametrize(
    ("pad", "chunk"),
    [(1, 2048), (64, 5), (7, 1)],
    ids=["one-chunk", "padded-to-64-uneven-chunks", "padded-to-7-row-by-row"],
)
def test_fused_head_equals_the_full_log_softmax_in_fp32(pad, chunk):
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    expected, got = plain(model, x, y), fused(model, x, y, pad=pad, chunk=chunk)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=1e-6)
    assert got[1].shape == (3, CFG.context, len(COLUMNS)) and not got[1].requires_grad
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=1e-6)
    for got_grad, expected_grad in zip(got[2], expected[2], strict=True):
        assert got_grad.shape == expected_grad.shape  # padding rows never reach the model
        torch.testing.assert_close(got_grad, expected_grad, rtol=0, atol=1e-7)


def test_compiled_chunk_statistics_give_the_same_numbers():
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    compiled = torch.compile(chunk_statistics)
    expected, got = plain(model, x, y), fused(model, x, y, pad=64, chunk=5, statistics=compiled)
    for got_value, expected_value in zip(got, expected, strict=True):
        torch.testing.assert_close(got_value, expected_value, rtol=0, atol=1e-6)


def test_bf16_products_keep_untrained_probe_values_within_bf16_tolerance():
    cfg = GPTConfig(vocab_size=50257, context=16, n_embd=64, n_head=2, n_layer=1)
    model = build_model(cfg, seed=0)
    x, y = batch(cfg)
    with torch.no_grad():
        log_probs = model(x)
        loss, columns = fused_head(
            model.hidden(x), model.wte.weight, y, COLUMNS, torch.bfloat16, pad=64, chunk=20
        )
    expected_loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten()).item()
    assert loss.item() == pytest.approx(expected_loss, abs=1e-3)
    torch.testing.assert_close(columns, log_probs[..., COLUMNS], rtol=0, atol=2e-3)


def test_without_grad_nothing_is_kept_for_a_backward_pass():
    model = build_model(CFG, seed=0)
    x, y = batch(CFG)
    with torch.no_grad():
        loss, columns = fused_head(model.hidden(x), model.wte.weight, y, COLUMNS)
    assert not loss.requires_grad and loss.grad_fn is None
    torch.testing.assert_close(loss, plain(model, x, y)[0], rtol=0, atol=1e-6)
