"""One training step with its per-step probes, run with the switches of step_options.py.

The pipeline's default step (PIPELINE) and the plain baseline the benchmark compares it with
(BASELINE) compute the same quantities; the options choose kernels, the precision of the matrix
products (hardware.py), the fused output layer (head.py) and compilation. Every option runs on
the CPU too: bf16 autocast works on both, and CUDA graphs (compile_mode "reduce-overhead") are
skipped by torch.compile for CPU tensors.
"""

import contextlib
import logging
import sys
from dataclasses import replace

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..model.head import HeadOutput, HeadPlan, block_statistics, fused_head
from ..pipeline.step_options import ADAMW_KERNELS, DECAY, OPTIMIZERS, PIPELINE
from .hardware import resolve_precision
from .probe import GroupProbe
from .progress import Timing

log = logging.getLogger(__name__)


def compile_report():
    """How many graphs torch.compile took from its cache and how many it had to compile."""
    inductor = torch._dynamo.utils.counters["inductor"]
    return (
        f"torch.compile: {inductor['fxgraph_cache_hit']} graphs from the cache, "
        f"{inductor['fxgraph_cache_miss']} compiled"
    )


def compilations():
    """How many frames torch.compile has traced and graphs it has compiled or loaded in this
    process: a step during which it grows paid for compiling (0 where nothing was compiled;
    torch._dynamo is not imported for the question, which costs about 2 s)."""
    if "torch._dynamo" not in sys.modules:
        return 0
    counters = torch._dynamo.utils.counters
    inductor = counters["inductor"]
    return (
        counters["frames"]["total"] + inductor["fxgraph_cache_hit"] + inductor["fxgraph_cache_miss"]
    )


def timing(device):
    """progress.Timing of `device`: a GPU is synchronised to be timed."""
    kind = torch.device(device).type
    sync = torch.cuda.synchronize if kind == "cuda" else None
    return Timing(kind, sync, compilations)


def parameter_groups(model, weight_decay, decay):
    """The optimizer's parameter groups: which parameters decay by `weight_decay`.

    decay "all": every parameter (as the course does); "matrices": only the 2-D weights of the
    blocks' linear layers, not the embeddings (input, position, untied output), LayerNorm
    weights or biases, as nanoGPT-style training does. Every group is named.
    """
    if decay not in DECAY:
        raise ValueError(f"decay={decay!r} is not one of {DECAY}")
    named = dict(model.named_parameters())
    decaying = [
        n for n, p in named.items() if decay == "all" or (p.dim() == 2 and n.startswith("blocks."))
    ]
    rest = [n for n in named if n not in decaying]
    return [
        {"names": decaying, "params": [named[n] for n in decaying], "weight_decay": weight_decay},
        {"names": rest, "params": [named[n] for n in rest], "weight_decay": 0.0},
    ]


def make_optimizer(model, settings, kernel="default"):
    """The run's optimizer over parameter_groups: AdamW (lr, adam_eps, decoupled weight decay)
    or SGD (lr, momentum, weight decay as an L2 term), with the kernel ADAMW_KERNELS[kernel]."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={settings.optimizer!r} is not one of {OPTIMIZERS}")
    groups = parameter_groups(model, settings.weight_decay, settings.decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=settings.lr, momentum=settings.momentum, **ADAMW_KERNELS[kernel]
        )
    return torch.optim.AdamW(groups, lr=settings.lr, eps=settings.adam_eps, **ADAMW_KERNELS[kernel])


def _compiled_body(model, options):
    """What the step calls for hidden states (fused head) or log-probs, compiled as asked; with
    scope "blocks" the model's blocks are compiled in place, keeping their parameter names."""
    body = model.hidden if options.fused_head else model
    if not options.compile:
        return body
    mode = None if options.compile_mode == "default" else options.compile_mode
    if options.compile_scope == "model":
        return torch.compile(body, mode=mode)
    for block in model.blocks:
        block.compile(mode=mode)
    return body


class TrainStep:
    """Forward, loss, group probes and (optionally) one update, all left on the device.

    settings: the training settings (settings.TrainSettings: the optimizer and its lr, weight
    decay and which parameters decay, momentum or epsilon; make_optimizer). With
    frozen_rows (token ids), those rows of the embedding and of an untied output matrix get
    exactly zero gradient at every update. With token_weights (one per vocabulary id), training
    minimises the mean of each target's weight times its loss; the log keeps the plain loss.
    With split_ids (token ids), the log row also splits the loss by whether the target is one.
    """

    def __init__(
        self,
        model,
        groups,
        settings,
        device,
        options=PIPELINE,
        frozen_rows=None,
        token_weights=None,
        split_ids=None,
    ):
        if model.adaptive is not None and options.fused_head:
            log.info("runtime.fused_head: off, the adaptive softmax has no single output matrix")
            options = replace(options, fused_head=False, pad_vocab=1)
        if model.adaptive is not None and frozen_rows is not None:
            raise ValueError("train.freeze_unseen needs model.head: softmax")
        self.model = model.train().to(device)
        self.options, self.device = options, device
        self.precision = resolve_precision(options.precision, device)
        vocab = model.cfg.vocab_size
        self.plan = HeadPlan.for_device(device, self.precision.dtype, options.pad_vocab, vocab)
        self.body = _compiled_body(model, options)
        self.statistics = torch.compile(block_statistics) if options.compile else block_statistics
        self.probe = GroupProbe(groups, device)
        self.optimizer = make_optimizer(model, settings, options.adamw)
        self.frozen = None if frozen_rows is None else torch.as_tensor(frozen_rows).to(device)
        self.token_weights = None if token_weights is None else token_weights.float().to(device)
        self.vocab_rows = [model.wte.weight] + ([] if model.head is None else [model.head.weight])
        self.split = None if split_ids is None else torch.as_tensor(split_ids).to(device)

    def _context(self, update):
        stack = contextlib.ExitStack()
        stack.enter_context(self.precision.autocast(self.device))
        stack.enter_context(torch.set_grad_enabled(update))
        if self.options.math_attention:
            stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        if not update:
            # A step without update (the last, after the final update) runs eagerly: compiling
            # and recording a no-grad graph for one call costs more than it saves; and without
            # autograd, CUDA graphs take each call of a block's shared graph for a new step and
            # overwrite the output the next block is reading.
            stack.enter_context(torch.compiler.set_stance("force_eager"))
        return stack

    def head(self, x, y):
        """head.HeadOutput of a batch: objective, mean loss, group log-probs (batch, time, K)."""
        row_weights = None if self.token_weights is None else self.token_weights[y]
        if not self.options.fused_head:
            log_probs = self.body(x)
            losses = -log_probs.gather(-1, y[..., None])[..., 0]
            loss = losses.mean()
            objective = loss if row_weights is None else (losses * row_weights).mean()
            return HeadOutput(
                objective, loss.detach(), log_probs[..., self.probe.ids], losses.detach()
            )
        return fused_head(
            self.body(x),
            self.model.output_weight,
            y,
            self.probe.ids,
            self.plan,
            self.statistics,
            self.model.bias,
            row_weights,
        )

    def position_losses(self, x, y):
        """Each position's cross-entropy (fp32, on the device), without an update."""
        with self._context(update=False):
            return self.head(x, y).losses.detach()

    def __call__(self, x, y, update=True):
        """The step's log row on the device: loss (with split_ids, then the mean loss at the
        positions whose target is one of them and at the others, NaN where there are none), then
        each group's masked and unmasked mean (schemas.LOG_ROW when the groups are
        names.GROUP_NAMES; schemas.FINETUNE_ROW with the fine-tuning's groups and split)."""
        with self._context(update):
            objective, loss, columns, per_position = self.head(x, y)
            means = self.probe.group_means(columns.detach(), x)
            if update:
                self.optimizer.zero_grad(set_to_none=True)
                objective.backward()
        if update:
            if self.frozen is not None:
                for weight in self.vocab_rows:
                    weight.grad.index_fill_(0, self.frozen, 0.0)
            self.optimizer.step()
        losses = [loss.detach().double()[None]]
        if self.split is not None:  # sums, not boolean indexing: no wait for the host
            chosen = torch.isin(y, self.split).double()
            per_position = per_position.detach().double()
            for mask in (chosen, 1 - chosen):
                losses.append(((per_position * mask).sum() / mask.sum())[None])
        return torch.cat([*losses, means.flatten()])
