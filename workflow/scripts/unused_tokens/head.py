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


def block_statistics(logits, targets, columns, want_grad):
    """Per-row loss and probe log-probabilities of a block of rows: (losses, probes), fp32.

    logits: (rows, padded vocab) in any precision, padding columns already -inf; targets: (rows,).
    The log-softmax is taken in fp32. With want_grad, `logits` is overwritten, in its own dtype,
    by d(summed loss)/d(logits) = softmax - one_hot(targets): exp(log-softmax) is written
    straight into it, one pass.
    """
    log_probs = torch.log_softmax(logits, dim=1, dtype=torch.float32)
    rows = torch.arange(len(targets), device=targets.device)
    losses = -log_probs[rows, targets]
    probes = log_probs[:, columns]
    if want_grad:
        torch.exp(log_probs, out=logits)
        logits[rows, targets] -= 1  # indexing, not scatter: that copies a bf16 block twice
    return losses, probes


def chunk_statistics(logits, targets, columns, want_grad, block, statistics=block_statistics):
    """`statistics` over the chunk's rows, `block` rows at a time: (losses, probes).

    With want_grad, the gradient overwrites `logits` block by block, while each block is still
    in cache.
    """
    parts = [
        statistics(logits[rows], targets[rows], columns, want_grad)
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


class FusedHead(torch.autograd.Function):
    """(mean loss, log-probs of `columns`) from hidden (N, d), weight (V, d) and targets (N,)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, columns, plan, statistics):
        ctx.dtypes = hidden.dtype, weight.dtype
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        n, vocab, device = len(hidden), len(weight), hidden.device
        with torch.autocast(device.type, enabled=False):
            losses = torch.empty(n, dtype=torch.float32, device=device)
            probes = torch.empty(n, len(columns), dtype=torch.float32, device=device)
            h, w = operands(hidden, weight, plan)
            if want_grad:
                grad_h = torch.empty_like(h)
                grad_w = torch.zeros_like(w, dtype=torch.float32)
            for rows, logits in padded_logits(h, w, vocab, plan):
                losses[rows], probes[rows] = chunk_statistics(
                    logits, targets[rows], columns, want_grad, plan.block, statistics
                )
                if want_grad:  # the logits now hold d(summed loss)/d(logits)
                    grad_h[rows] = logits @ w
                    grad_w += logits.T @ h[rows]
        ctx.mark_non_differentiable(probes)
        if want_grad:
            ctx.save_for_backward(grad_h, grad_w[:vocab])
        ctx.n = n
        return losses.sum() / n, probes

    @staticmethod
    def backward(ctx, grad_loss, _grad_probes):
        grad_h, grad_w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        scale = grad_loss / ctx.n  # the saved gradients are of the summed loss
        return (grad_h * scale).to(h_dtype), (grad_w * scale).to(w_dtype), *[None] * 4


def fused_head(hidden, weight, targets, columns, plan, statistics=block_statistics):
    """Mean cross-entropy of `targets` and the log-probabilities of `columns` at every position.

    hidden: (..., d), already scaled so that logits = hidden @ weight.T; targets: hidden's shape
    without d; columns: (K,) token ids. Matrix products run in plan.dtype, the log-softmax in
    fp32; `statistics` is block_statistics or a compiled version of it.
    Returns (loss, (..., K) fp32 log-probabilities, not differentiable).
    """
    loss, probes = FusedHead.apply(
        hidden.flatten(0, -2), weight, targets.flatten(), columns, plan, statistics
    )
    return loss, probes.view(*targets.shape, len(columns))


@torch.no_grad()
def log_prob_sums(hidden, weight, plan):
    """Every vocabulary id's log-probability summed over the positions of hidden (..., d): (V,).

    The log-softmax is taken in fp32, the sums in float64.
    """
    vocab = len(weight)
    total = torch.zeros(vocab, dtype=torch.float64, device=hidden.device)
    h, w = operands(hidden.flatten(0, -2), weight, plan)
    for _, logits in padded_logits(h, w, vocab, plan):
        for start in range(0, len(logits), plan.block):
            log_probs = torch.log_softmax(logits[start : start + plan.block], 1, torch.float32)
            total += log_probs[:, :vocab].sum(dim=0, dtype=torch.float64)
    return total
