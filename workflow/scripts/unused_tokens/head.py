"""The output layer, the loss and the group probes in one pass over chunks of positions.

The plain path (model.GPT.forward) materialises the (positions, vocab) log-softmax in fp32 and
takes the loss and the probes' columns from it, although only three things are needed per
position: the logsumexp, the target's logit and the logits of the group tokens. The fused head
computes the logits a chunk of positions at a time, keeps those three, and, while the chunk's
logits are at hand, the loss's gradient with respect to the hidden states and the (tied) output
matrix. The output matrix may be padded with rows to a multiple of `pad`, which matrix-multiply
kernels prefer; the padded logits are set to -inf, so they change no number. The elementwise
work on a chunk (chunk_statistics) can be compiled into a few fused kernels.
"""

import torch

CHUNK = 2048  # positions per chunk: (CHUNK, vocab) fp32 logits, 0.4 GB for GPT-2's vocabulary


def chunk_statistics(logits, target, columns, vocab, n, grad_dtype):
    """Summed loss, probe columns and (if grad_dtype) d(mean loss)/d(logits) of one chunk.

    logits: (rows, padded vocab) in any precision, overwritten when fp32; target: (rows, 1); the
    columns past `vocab` are padding. The gradient is (softmax - one_hot(target)) / n, in
    grad_dtype. In-place operations keep eager mode from allocating a chunk-sized tensor each.
    """
    logits = logits.float()
    logits[:, vocab:] = float("-inf")
    lse = torch.logsumexp(logits, dim=1, keepdim=True)
    loss_sum = (lse - logits.gather(1, target)).sum()
    probes = logits[:, columns] - lse
    if grad_dtype is None:
        return loss_sum, probes, None
    d_logits = logits.sub_(lse).exp_().scatter_add_(1, target, torch.full_like(lse, -1.0))
    return loss_sum, probes, d_logits.div_(n).to(grad_dtype)


class FusedHead(torch.autograd.Function):
    """(mean loss, log-probs of `columns`) from hidden (N, d), weight (V, d) and targets (N,)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, columns, dtype, pad, chunk, statistics):
        ctx.dtypes = hidden.dtype, weight.dtype
        with torch.autocast(hidden.device.type, enabled=False):
            n, vocab = len(hidden), len(weight)
            h = hidden.to(dtype)
            w = torch.nn.functional.pad(weight.to(dtype), (0, 0, 0, -vocab % pad))
            wants_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
            grad_dtype = dtype if wants_grad else None
            loss = torch.zeros((), dtype=torch.float32, device=h.device)
            probes = torch.empty(n, len(columns), dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(h) if wants_grad else None
            grad_w = torch.zeros_like(w, dtype=torch.float32) if wants_grad else None
            for start in range(0, n, chunk):
                rows = slice(start, start + chunk)
                loss_sum, chunk_probes, d_logits = statistics(
                    h[rows] @ w.T, targets[rows, None], columns, vocab, n, grad_dtype
                )
                loss += loss_sum
                probes[rows] = chunk_probes
                if wants_grad:
                    grad_h[rows] = d_logits @ w
                    grad_w += d_logits.T @ h[rows]
        ctx.mark_non_differentiable(probes)
        if wants_grad:
            ctx.save_for_backward(grad_h, grad_w[:vocab])
        return loss / n, probes

    @staticmethod
    def backward(ctx, grad_loss, _grad_probes):
        grad_h, grad_w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        return (grad_h * grad_loss).to(h_dtype), (grad_w * grad_loss).to(w_dtype), *[None] * 6


def fused_head(
    hidden,
    weight,
    targets,
    columns,
    dtype=torch.float32,
    pad=1,
    chunk=CHUNK,
    statistics=chunk_statistics,
):
    """Mean cross-entropy of `targets` and the log-probabilities of `columns` at every position.

    hidden: (..., d), already scaled so that logits = hidden @ weight.T; targets: hidden's shape
    without d; columns: (K,) token ids. Matrix products run in `dtype`, softmax sums in fp32;
    `statistics` is chunk_statistics or a compiled version of it.
    Returns (loss, (..., K) fp32 log-probabilities, not differentiable).
    """
    loss, probes = FusedHead.apply(
        hidden.flatten(0, -2), weight, targets.flatten(), columns, dtype, pad, chunk, statistics
    )
    return loss, probes.view(*targets.shape, len(columns))
