"""The variants that test the explanation: untied output, zero gradient to unseen rows, decay."""

import pytest
import torch

from unused_tokens.batches import random_windows
from unused_tokens.model import GPTConfig, build_model
from unused_tokens.settings import TrainSettings
from unused_tokens.step import PIPELINE, TrainStep, parameter_groups

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
