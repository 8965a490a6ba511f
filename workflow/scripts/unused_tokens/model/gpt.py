"""A GPT-2-like decoder that outputs log-probabilities over the whole vocabulary.

Pre-LayerNorm blocks, causal scaled-dot-product attention, a GELU MLP, no dropout, and an output
layer that is the input embedding itself (one shared Parameter), with logits scaled by 1/sqrt(d).
With tied=False the output layer is a matrix of its own, initialised like the embedding and
created after every other parameter, so that a seed gives both models the same other weights;
with output_bias=True it adds a bias, which build_model starts where it is told (the unigram
solution). With head="adaptive" the output is PyTorch's adaptive softmax over frequency-ordered
indices (vocabulary.py): a head over the ADAPTIVE_CUTOFFS[0] most frequent and one entry per tail
cluster, each cluster a smaller projection of its own; it has no tied matrix and no bias.
`vocabulary` records which ids the output covers (vocabulary.py); vocab_size is their number.
A trained model is saved with its config and read back by save_model and load_model.
"""

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from ..pipeline.files import atomic_output
from ..pipeline.model_config import ADAPTIVE_DIV, GPTConfig


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.qkv(x).split(C, dim=2)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_mlp = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        )

    def forward(self, x):
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.context, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = self.bias = self.adaptive = None
        self.apply(self._init_weights)
        if cfg.head == "adaptive":  # PyTorch's own initialisation of its layers
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                cfg.n_embd, cfg.vocab_size, cfg.cutoffs, div_value=ADAPTIVE_DIV
            )
        elif not cfg.tied:  # made after the others' initialisation, which it leaves as it was
            self.head = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            self._init_weights(self.head)
        if cfg.output_bias:
            self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    @property
    def output_weight(self):
        """The (vocab, d) output matrix: the embedding's weight when tied."""
        return self.wte.weight if self.head is None else self.head.weight

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def hidden(self, idx):
        """The last hidden state scaled by 1/sqrt(d): the logits are hidden @ output_weight.T."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) / math.sqrt(self.cfg.n_embd)

    def forward(self, idx):
        """Log-probabilities over the vocabulary for every position: (batch, time, vocab)."""
        hidden = self.hidden(idx)
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden.flatten(0, 1)).float().view(*idx.shape, -1)
        logits = F.linear(hidden, self.output_weight, self.bias)
        return F.log_softmax(logits.float(), dim=-1)


def build_model(cfg, seed, output_bias=None):
    """A freshly initialised model; the same seed gives the same weights on every run.

    output_bias: the starting output bias (vocab,) where cfg.output_bias, e.g. the corpus's log
    unigram probabilities (frequency.unigram_log_probs).
    """
    if cfg.output_bias != (output_bias is not None):
        raise ValueError("an output bias is given exactly when cfg.output_bias is true")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(cfg)
    if output_bias is not None:
        model.bias.data.copy_(torch.as_tensor(output_bias))
    return model


def save_model(model, path, steps):
    """The weights, the model config and the number of updates, written atomically."""
    state = {"config": asdict(model.cfg), "steps": steps, "model": model.state_dict()}
    save_atomically(state, path)


def save_atomically(state, path):
    """torch.save `state` to `path` atomically, the same bytes for the same state: through an
    open file, whose archive is named "archive" (given a path, torch.save names the archive
    after it: the temporary file's random name)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as out:
        torch.save(state, out)


def load_model(path):
    """The model saved by save_model, on the CPU."""
    saved = torch.load(path, map_location="cpu")
    model = GPT(GPTConfig(**saved["config"]))
    model.load_state_dict(saved["model"])
    return model
