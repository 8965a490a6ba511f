"""The output layer, the loss and the group probes, without the full log-softmax in memory.

The plain path (model.GPT.forward) materialises the (positions, vocab) log-softmax in fp32 and
takes the loss and the probes' columns from it, although only two things are needed per
position: the target's log-probability and those of the group tokens. The fused head makes the
logits a chunk of positions at a time (one matrix product), then takes the fp32 log-softmax a
block of rows at a time, keeps the target's and the group columns, and, while the block is at
hand, turns it into the loss's gradient with respect to the logits (softmax - one_hot), which two
more products turn into the gradients of the hidden states and the (tied) output matrix.

How big a chunk and a block are is a property of the device (HeadPlan.for_device):

- CUDA: chunks of 2,048 positions, each one block: its elementwise work is a few passes over
  the chunk in device memory, fused into fewer kernels when compiled.
- CPU: chunks of 4,096 positions (one product per default-size batch, so the output matrix is
  read three times a step), and blocks of as many rows as fit, in fp32, into the L2 caches of the
  threads in use: threads x L2 size / (padded vocab x 4 bytes), at least 1. For GPT-2's
  vocabulary and a 2 MiB L2, two threads take 10 rows at a time: every pass of the elementwise
  work then reads the cache, not main memory.

The output matrix may be padded with rows to a multiple of `pad`, which matrix-multiply kernels
prefer; the padded logits are set to -inf, so they change no number. Each position's loss and
probe values come from its own row alone, so chunk and block sizes never change a number.
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch

CUDA_CHUNK = 2048  # positions: (2,048 x 50,304) logits, 0.2 GB in bf16, 0.4 GB as fp32
CPU_CHUNK = 4096  # positions: a default batch (16 x 256) in one product
L2_FALLBACK = 1 << 20  # bytes


def l2_cache_bytes():
    """The L2 cache of one CPU core, as PyTorch detects it (1 MiB where it cannot)."""
    return torch.cpu.get_capabilities().get("l2_cache_size") or L2_FALLBACK


@dataclass(frozen=True)
class HeadPlan:
    """Precision of the output layer's products, padding, positions per chunk, rows per block."""

    dtype: torch.dtype = torch.float32
    pad: int = 1
    chunk: int = CUDA_CHUNK
    block: int = CUDA_CHUNK

    @classmethod
    def for_device(cls, device, dtype=torch.float32, pad=1, vocab=50257):
        """The documented rule of the module docstring, for `device` and the threads in use."""
        if device == "cuda":
            return cls(dtype, pad, CUDA_CHUNK, CUDA_CHUNK)
        row_bytes = (vocab + -vocab % pad) * 4
        block = max(1, torch.get_num_threads() * l2_cache_bytes() // row_bytes)
        return cls(dtype, pad, CPU_CHUNK, block)


def padded_bias(bias, rows):
    """The output bias (vocab,) in fp32, padded with zeros to `rows` (the padded vocabulary,
    whose extra logits are -inf anyway); None stays None."""
    return None if bias is None else torch.nn.functional.pad(bias.float(), (0, rows - len(bias)))


def log_softmax(logits, bias=None):
    """The fp32 log-softmax of a block of logits (rows, padded vocab), the fp32 bias added
    first if there is one."""
    if bias is None:
        return torch.log_softmax(logits, dim=1, dtype=torch.float32)
    return torch.log_softmax(logits.float() + bias, dim=1)


def block_statistics(logits, targets, columns, want_grad, bias=None):
    """Per-row loss and probe log-probabilities of a block of rows: (losses, probes), fp32.

    logits: (rows, padded vocab) in any precision, padding columns already -inf; targets: (rows,);
    bias: None or the output bias (padded vocab,) in fp32, added in fp32. The log-softmax is
    taken in fp32. With want_grad, `logits` is overwritten, in its own dtype, by d(summed
    loss)/d(logits) = softmax - one_hot(targets): exp(log-softmax) is written straight into it.
    """
    log_probs = log_softmax(logits, bias)
    rows = torch.arange(len(targets), device=targets.device)
    losses = -log_probs[rows, targets]
    probes = log_probs[:, columns]
    if want_grad:
        torch.exp(log_probs, out=logits)
        logits[rows, targets] -= 1  # indexing, not scatter: that copies a bf16 block twice
    return losses, probes


def chunk_statistics(
    logits, targets, columns, want_grad, block, statistics=block_statistics, bias=None
):
    """`statistics` over the chunk's rows, `block` rows at a time: (losses, probes).

    With want_grad, the gradient overwrites `logits` block by block, while each block is still
    in cache.
    """
    parts = [
        statistics(logits[rows], targets[rows], columns, want_grad, bias)
        for rows in (slice(start, start + block) for start in range(0, len(logits), block))
    ]
    return tuple(torch.cat(part) for part in zip(*parts, strict=True))


def operands(hidden, weight, plan):
    """hidden (N, d) and weight (V, d) in plan.dtype, weight padded with zero rows."""
    padding = (0, 0, 0, -len(weight) % plan.pad)
    return hidden.to(plan.dtype), torch.nn.functional.pad(weight.to(plan.dtype), padding)


def padded_logits(h, w, vocab, plan):
    """(rows, logits) per chunk of positions of h @ w.T, the padding columns past `vocab` -inf."""
    for start in range(0, len(h), plan.chunk):
        rows = slice(start, start + plan.chunk)
        logits = h[rows] @ w.T
        logits[:, vocab:] = float("-inf")
        yield rows, logits


class HeadOutput(NamedTuple):
    objective: torch.Tensor  # what training minimises: the (weighted) mean loss
    loss: torch.Tensor  # the mean cross-entropy, unweighted, not differentiable
    probes: torch.Tensor  # log-probabilities of the columns, not differentiable
    losses: torch.Tensor  # each position's cross-entropy, fp32, not differentiable


class FusedHead(torch.autograd.Function):
    """HeadOutput from hidden (N, d), weight (V, d), bias (V,) or None, targets (N,) and row
    weights (N,) or None: the objective is mean(row weight x loss), or the mean loss."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, row_weights, columns, plan, statistics):
        ctx.dtypes = hidden.dtype, weight.dtype, bias is not None and bias.dtype
        wants = ctx.needs_input_grad
        want_grad = wants[0] or wants[1] or wants[2]
        n, vocab, device = len(hidden), len(weight), hidden.device
        with torch.autocast(device.type, enabled=False):
            losses = torch.empty(n, dtype=torch.float32, device=device)
            probes = torch.empty(n, len(columns), dtype=torch.float32, device=device)
            h, w = operands(hidden, weight, plan)
            b = padded_bias(bias, len(w))
            if want_grad:
                grad_h = torch.empty_like(h)
                grad_w = torch.zeros_like(w, dtype=torch.float32)
                grad_b = torch.zeros(len(w), dtype=torch.float32, device=device)
            for rows, logits in padded_logits(h, w, vocab, plan):
                losses[rows], probes[rows] = chunk_statistics(
                    logits, targets[rows], columns, want_grad, plan.block, statistics, b
                )
                if want_grad:  # the logits now hold d(summed loss)/d(logits), row by row
                    h_rows, scale = h[rows], None
                    if row_weights is not None:  # weighting rows of d(logits) = weighting h's
                        scale = row_weights[rows, None]
                        h_rows = h_rows * scale.to(h.dtype)
                    grad_rows = logits @ w
                    grad_h[rows] = grad_rows if scale is None else grad_rows * scale
                    grad_w += logits.T @ h_rows
                    if bias is not None:
                        column_sums = (
                            logits.sum(0, dtype=torch.float32)
                            if scale is None
                            else (scale[:, 0].to(logits.dtype) @ logits)
                        )
                        grad_b += column_sums
        loss = losses.sum() / n
        objective = loss.clone() if row_weights is None else (losses * row_weights).sum() / n
        ctx.mark_non_differentiable(loss, probes, losses)
        if want_grad:
            ctx.save_for_backward(grad_h, grad_w[:vocab], grad_b[:vocab])
        ctx.n = n
        return objective, loss, probes, losses

    @staticmethod
    def backward(ctx, grad_objective, _grad_loss, _grad_probes, _grad_losses):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        h_dtype, w_dtype, b_dtype = ctx.dtypes
        scale = grad_objective / ctx.n  # the saved gradients are of the summed objective
        return (
            (grad_h * scale).to(h_dtype),
            (grad_w * scale).to(w_dtype),
            (grad_b * scale).to(b_dtype) if b_dtype else None,
            *[None] * 5,
        )


def fused_head(
    hidden,
    weight,
    targets,
    columns,
    plan,
    statistics=block_statistics,
    bias=None,
    row_weights=None,
):
    """HeadOutput: the objective, the mean cross-entropy of `targets`, the log-probabilities
    of `columns` and the cross-entropy at every position, without the full log-softmax.

    hidden: (..., d), already scaled so that logits = hidden @ weight.T (+ bias); targets:
    hidden's shape without d; columns: (K,) token ids; row_weights: one weight per target, or
    None. Matrix products run in plan.dtype, the log-softmax in fp32; `statistics` is
    block_statistics or a compiled version of it. The probes come back as (..., K).
    """
    flat_weights = None if row_weights is None else row_weights.flatten().float()
    objective, loss, probes, losses = FusedHead.apply(
        hidden.flatten(0, -2),
        weight,
        bias,
        targets.flatten(),
        flat_weights,
        columns,
        plan,
        statistics,
    )
    probes = probes.view(*targets.shape, len(columns))
    return HeadOutput(objective, loss, probes, losses.view(targets.shape))


class OutputSums(NamedTuple):
    """Every vocabulary id's log-probability and logit summed over positions: (V,) each, float64.
    A position's log-probability is its logit minus its logsumexp, so the two sums of any id
    differ by the positions' summed logsumexp: the same for every id. `within`: the positions'
    summed logsumexp over a subset of ids only (a 0-dim float64 tensor; NaN without a subset):
    an id's logit sum minus it is its log-probability sum renormalised over that subset."""

    log_probs: torch.Tensor
    logits: torch.Tensor
    within: torch.Tensor


@torch.no_grad()
def output_sums(hidden, weight, plan, bias=None, within=None):
    """The OutputSums of the positions of hidden (..., d), `within` a boolean mask of ids (or
    None). The logits (the bias, if any, added) and the log-softmax are taken in fp32, the sums
    in float64."""
    vocab = len(weight)
    log_prob_total = torch.zeros(vocab, dtype=torch.float64, device=hidden.device)
    logit_total = torch.zeros_like(log_prob_total)
    within_total = torch.zeros((), dtype=torch.float64, device=hidden.device)
    h, w = operands(hidden.flatten(0, -2), weight, plan)
    b = padded_bias(bias, len(w))
    for _, logits in padded_logits(h, w, vocab, plan):
        for start in range(0, len(logits), plan.block):
            block = logits[start : start + plan.block, :vocab].float()
            if b is not None:
                block = block + b[:vocab]
            log_prob_total += torch.log_softmax(block, dim=1).sum(dim=0, dtype=torch.float64)
            logit_total += block.sum(dim=0, dtype=torch.float64)
            if within is not None:
                within_total += block[:, within].logsumexp(dim=1).sum(dtype=torch.float64)
    if within is None:
        within_total = torch.tensor(float("nan"), dtype=torch.float64)
    return OutputSums(log_prob_total, logit_total, within_total)
