"""The variants of the experiment: untied output, zero gradient to unseen rows, decay groups,
an output bias at the unigram solution, inverse-frequency loss weights."""

import numpy as np
import pytest
import torch

from unused_tokens.data.frequency import inverse_frequency_weights, unigram_log_probs
from unused_tokens.model.gpt import build_model
from unused_tokens.model.head import HeadPlan, fused_head
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import PIPELINE
from unused_tokens.pipeline.study import TrainSettings
from unused_tokens.training.batches import random_windows
from unused_tokens.training.step import TrainStep, parameter_groups

CFG = GPTConfig(vocab_size=64, context=8, n_embd=16, n_head=2, n_layer=2)
UNTIED = GPTConfig(**{**CFG.__dict__, "tied": False})
GROUPS = {"most_common": [1, 2], "least_common": [9], "never_used": [40, 41]}
TOKENS = torch.randint(0, 30, (2000,), generator=torch.Generator().manual_seed(0))  # 30..63 unseen
SETTINGS = TrainSettings(steps=1, batch_size=4, lr=1e-3, weight_decay=0.01)


def test_an_untied_model_has_its_own_output_matrix_and_otherwise_the_same_weights():
    tied, untied = build_model(CFG, seed=3), build_model(UNTIED, seed=3)
    assert tied.output_weight is tied.wte.weight and tied.head is None
    assert untied.output_weight is untied.head.weight
    assert untied.output_weight is not untied.wte.weight
    assert not torch.equal(untied.head.weight, untied.wte.weight)
    assert untied.head.weight.std().item() == pytest.approx(0.02, rel=0.1)
    extra = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters())
    assert extra == CFG.vocab_size * CFG.n_embd
    for (name, a), (_, b) in zip(tied.named_parameters(), untied.named_parameters(), strict=False):
        assert torch.equal(a, b), name  # the same initialisation but for the new matrix


X, Y = random_windows(TOKENS, 4, CFG.context, torch.Generator().manual_seed(1))


def step_gradients(cfg, frozen):
    step = TrainStep(build_model(cfg, seed=0), GROUPS, SETTINGS, "cpu", PIPELINE, frozen)
    step(X, Y)
    return step.model


def nonzero_rows(grad):
    return set(torch.nonzero(grad.abs().sum(dim=1))[:, 0].tolist())


@pytest.mark.parametrize("cfg", [CFG, UNTIED], ids=["tied", "untied"])
def test_frozen_rows_get_exactly_zero_gradient_and_the_others_do_not(cfg):
    unseen = torch.arange(30, 64)
    model = step_gradients(cfg, unseen)
    assert nonzero_rows(model.output_weight.grad) == set(range(30))
    assert nonzero_rows(model.wte.weight.grad) == (
        set(range(30)) if cfg.tied else set(X.unique().tolist())  # untied: the input rows
    )
    free = step_gradients(cfg, None)
    assert nonzero_rows(free.output_weight.grad) == set(range(64))


def test_untied_input_rows_of_unseen_tokens_get_no_gradient_even_unfrozen():
    model = step_gradients(UNTIED, None)
    assert torch.count_nonzero(model.wte.weight.grad[30:]) == 0  # never in an input
    assert torch.count_nonzero(model.head.weight.grad[30:].abs().sum(dim=1)) == 34


def test_weight_decay_groups():
    model = build_model(UNTIED, seed=0)
    every = [n for n, _ in model.named_parameters()]
    decaying, rest = parameter_groups(model, 0.1, "all")
    assert decaying["names"] == every and rest["names"] == [] and decaying["weight_decay"] == 0.1
    decaying, rest = parameter_groups(model, 0.1, "matrices")
    assert decaying["names"] == [
        f"blocks.{i}.{layer}.weight"
        for i in range(2)
        for layer in ("attn.qkv", "attn.proj", "mlp.0", "mlp.2")
    ]
    assert rest["weight_decay"] == 0.0
    assert {"wte.weight", "wpe.weight", "head.weight", "ln_f.weight", "ln_f.bias"} <= set(
        rest["names"]
    )
    assert sorted(decaying["names"] + rest["names"]) == sorted(every)
    with pytest.raises(ValueError, match="decay='none' is not one of"):
        parameter_groups(model, 0.1, "none")


BIASED = GPTConfig(**{**CFG.__dict__, "output_bias": True})


def plain_objective(model, x, y, weights=None):
    """The weighted mean loss from the full log-softmax, and every parameter's gradient."""
    model.zero_grad()
    losses = -model(x).gather(-1, y[..., None])[..., 0]
    objective = losses.mean() if weights is None else (losses * weights[y]).mean()
    objective.backward()
    return objective.detach(), [p.grad.clone() for p in model.parameters()]


PLAN = HeadPlan(pad=64, chunk=7, block=3)  # uneven chunks and blocks, padded


def fused_objective(model, x, y, weights=None):
    model.zero_grad()
    rows = None if weights is None else weights[y]
    out = fused_head(
        model.hidden(x), model.output_weight, y, COLUMNS, PLAN, bias=model.bias, row_weights=rows
    )
    out.objective.backward()
    return out, [p.grad.clone() for p in model.parameters()]


COLUMNS = torch.tensor([1, 9, 40])


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "inverse-frequency"])
@pytest.mark.parametrize("cfg", [BIASED, UNTIED], ids=["biased", "untied"])
def test_the_fused_head_takes_a_bias_and_row_weights_exactly_in_fp32(cfg, weighted):
    counts = torch.bincount(TOKENS, minlength=64).numpy()
    bias = unigram_log_probs(counts) if cfg.output_bias else None
    weights = torch.from_numpy(inverse_frequency_weights(counts)).float() if weighted else None
    model = build_model(cfg, seed=0, output_bias=bias)
    expected, expected_grads = plain_objective(model, X, Y, weights)
    got, grads = fused_objective(model, X, Y, weights)
    torch.testing.assert_close(got.objective, expected, rtol=0, atol=1e-6)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-7)
    plain_loss = -model(X).gather(-1, Y[..., None]).mean()
    torch.testing.assert_close(got.loss, plain_loss.detach(), rtol=0, atol=1e-6)
    assert not got.loss.requires_grad and got.objective.requires_grad
    if cfg.output_bias:
        names = [name for name, _ in model.named_parameters()]
        assert torch.count_nonzero(grads[names.index("bias")]) == 64  # the bias is learnt


def test_an_output_bias_starts_the_model_at_the_unigram_solution():
    counts = torch.bincount(TOKENS, minlength=64).numpy()
    model = build_model(BIASED, seed=0, output_bias=unigram_log_probs(counts))
    with torch.no_grad():
        loss = -model(X).gather(-1, Y[..., None]).mean()
    p = counts[counts > 0] / counts.sum()
    assert loss.item() == pytest.approx(-(p * np.log(p)).sum(), abs=0.1)  # one small batch
    with pytest.raises(ValueError, match="an output bias is given exactly when"):
        build_model(CFG, seed=0, output_bias=unigram_log_probs(counts))


def test_unigram_log_probs_and_inverse_frequency_weights_by_hand():
    counts = np.array([3, 1, 0])
    expected = np.log(np.array([3, 1, 0.001]) / 4.001)
    np.testing.assert_allclose(unigram_log_probs(counts), expected, rtol=1e-12)
    weights = inverse_frequency_weights(counts)  # 1/4, 1/2, 1, scaled by 4 / (3/4 + 1/2)
    np.testing.assert_allclose(weights, [0.8, 1.6, 3.2], rtol=1e-12)
    assert (counts * weights).sum() == pytest.approx(counts.sum())
