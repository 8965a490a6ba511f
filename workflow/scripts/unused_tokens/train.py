"""Train the model on random windows of the corpus, logging loss and group probes every step.

Step 0 is measured before the first update, so `steps` updates give `steps + 1` log rows. The
loss and the group means of every step stay on the device and are copied to the host once at the
end; progress lines are the only synchronisation, every `log_every` steps.
"""

import contextlib
import logging
import time
from dataclasses import asdict

import pandas as pd
import torch
import torch.nn.functional as F

from . import schemas
from .batches import random_windows
from .errors import PipelineError
from .files import atomic_output
from .probe import GroupProbe

log = logging.getLogger(__name__)


def resolve_device(requested):
    """'cuda' if asked for (or 'auto' and usable), else 'cpu'; 'cuda' without CUDA is an error."""
    usable = torch.cuda.is_available()
    if requested == "cuda" and not usable:
        raise PipelineError(
            "train.device is 'cuda' but no usable CUDA device was found: "
            "set train.device: auto (falls back to the CPU) or cpu"
        )
    device = "cuda" if requested in ("cuda", "auto") and usable else "cpu"
    log.info("device: %s", describe_device(device))
    return device


def describe_device(device):
    """One line naming the device and the precision training uses on it."""
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()}), bf16 autocast"
    return f"cpu, fp32, {torch.get_num_threads()} threads"


def _autocast(device):
    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(model, tokens, groups, steps, batch_size, lr, weight_decay, seed, device, log_every):
    """Train `model` in place; return the training log (schemas.TRAINING_LOG) as a DataFrame."""
    model.train().to(device)
    probe = GroupProbe(groups, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    started = time.perf_counter()
    for step in range(steps + 1):
        x, y = (
            t.to(device, non_blocking=True)
            for t in random_windows(tokens, batch_size, model.cfg.context, generator)
        )
        with _autocast(device):
            log_probs = model(x)
        loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten())
        with torch.no_grad():
            means = probe.group_means(log_probs.detach(), x)
            rows.append(torch.cat([loss.detach().double()[None], means.flatten()]))
        if step < steps:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if step % log_every == 0 or step == steps:
            _report(step, steps, rows[-1].tolist(), probe.names, batch_size * x.shape[1], started)
    return _as_table(torch.stack(rows).cpu().numpy(), probe.names)


def save_checkpoint(model, path, steps):
    """The trained weights and the model config, written atomically."""
    with atomic_output(path) as tmp:
        torch.save({"config": asdict(model.cfg), "steps": steps, "model": model.state_dict()}, tmp)


def _report(step, steps, row, names, tokens_per_step, started):
    elapsed = time.perf_counter() - started
    rate = tokens_per_step * (step + 1) / elapsed
    left = elapsed / (step + 1) * (steps - step)
    groups = " ".join(f"{n}={row[1 + 2 * i]:.3f}/{row[2 + 2 * i]:.3f}" for i, n in enumerate(names))
    log.info(
        "step %d/%d loss %.4f | masked/unmasked %s | %.0f tok/s | %.0fs left",
        step,
        steps,
        row[0],
        groups,
        rate,
        left,
    )


def _as_table(values, names):
    columns = {"step": range(len(values)), "loss": values[:, 0]}
    for i, name in enumerate(names):
        columns[f"{name}_masked"] = values[:, 1 + 2 * i]
        columns[f"{name}_unmasked"] = values[:, 2 + 2 * i]
    table = pd.DataFrame(columns)
    return table[schemas.TRAINING_LOG.names]
