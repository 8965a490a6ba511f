"""The GPT-2-like model: tied output embedding, causal attention, normalised log-probabilities."""

import math

import pytest
import torch
import torch.nn.functional as F

from unused_tokens.model.gpt import GPT, build_model, load_model, save_model
from unused_tokens.pipeline.model_config import GPTConfig

SMALL = GPTConfig(vocab_size=97, context=12, n_embd=16, n_head=4, n_layer=2)


def n_params(cfg):
    d, block = cfg.n_embd, 12 * cfg.n_embd**2 + 13 * cfg.n_embd
    return cfg.vocab_size * d + cfg.context * d + cfg.n_layer * block + 2 * d


def test_output_layer_is_the_input_embedding():
    model = build_model(SMALL, seed=0)
    assert sum(p.numel() for p in model.parameters()) == n_params(SMALL)
    vocab_sized = [n for n, p in model.named_parameters() if p.shape[0] == SMALL.vocab_size]
    assert vocab_sized == ["wte.weight"]


def test_default_model_is_gpt2_small_sized():
    with torch.device("meta"):
        model = GPT(GPTConfig())
    assert (
        sum(p.numel() for p in model.parameters()) == n_params(GPTConfig()) == 123_849_984
    )  # GPT-2 small, 256 positions


def test_softmax_reaches_embedding_rows_of_tokens_never_seen():
    """The mechanism: a token absent from inputs and targets still gets a gradient."""
    model = build_model(SMALL, seed=0)
    x = torch.randint(0, 10, (2, SMALL.context))
    F.nll_loss(model(x).flatten(0, 1), torch.randint(0, 10, (2 * SMALL.context,))).backward()
    assert model.wte.weight.grad[50:].abs().sum(dim=1).min() > 0


def test_log_probabilities_are_normalised_and_near_uniform_at_init():
    model = build_model(SMALL, seed=0)
    lp = model(torch.randint(0, SMALL.vocab_size, (3, SMALL.context)))
    assert lp.shape == (3, SMALL.context, SMALL.vocab_size)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3, SMALL.context))
    assert (lp.mean() + math.log(SMALL.vocab_size)).abs() < 0.01


def test_attention_is_causal():
    model = build_model(SMALL, seed=0).eval()
    x = torch.randint(0, SMALL.vocab_size, (1, SMALL.context))
    y = x.clone()
    y[0, 7] = (x[0, 7] + 1) % SMALL.vocab_size
    a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_same_seed_same_weights():
    a, b = build_model(SMALL, seed=3), build_model(SMALL, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build_model(SMALL, seed=4)
    assert not torch.equal(a.wte.weight, c.wte.weight)


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="model.n_head=5 must divide model.n_embd=16"):
        GPTConfig(n_embd=16, n_head=5)


def test_the_same_model_saved_twice_is_the_same_bytes_and_loads_back(tmp_path):
    """The temporary file's random name is not stored in the archive (torch.save names its
    archive after a path it is given)."""
    model = build_model(SMALL, seed=0)
    first, second = tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt"
    save_model(model, first, steps=3)
    save_model(model, second, steps=3)
    assert first.read_bytes() == second.read_bytes()
    loaded = load_model(first)
    pairs = zip(loaded.parameters(), model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
