"""Train the model on random windows of the corpus, logging loss and group probes every step.

Step 0 is measured before the first update, so `steps` updates give `steps + 1` log rows. The
loss and the group means of every step stay on the device and are copied to the host once at the
end; progress lines (every `log_every` steps) and saves of the training state are the only
synchronisation.
"""

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from . import schemas
from .batches import random_windows, to_device
from .errors import PipelineError
from .files import atomic_output, sha256_of
from .model import GPT, GPTConfig
from .step import PIPELINE, TrainStep, compile_report

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
    if requested == "auto" and not usable:
        log.warning("no usable CUDA device: training on the CPU (train.device: auto)")
    log.info("device: %s", describe_device(device))
    return device


def describe_device(device):
    """One line naming the device (and on a CPU, the threads in use)."""
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu, {torch.get_num_threads()} threads"


def use_compile_cache(folder):
    """Keep torch.compile's artefacts in `folder` (if not empty) so later runs skip compiling.

    Safe to share between runs: PyTorch keys every cached artefact by the graph, the input
    shapes, the device and its own version, and recompiles on any mismatch.
    """
    if folder:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(folder).resolve())


@dataclass
class ResumePoint:
    """Where training saves its full state every `every` updates, to pick up after a kill.

    The file is only reused by a run with the same `fingerprint` (inputs and settings), and is
    written atomically, so a kill at any moment leaves either the previous state or the new one.
    """

    path: Path
    every: int
    fingerprint: str

    def load(self):
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu")
        if state["fingerprint"] != self.fingerprint:
            log.warning("ignoring %s: written by a run with other inputs or settings", self.path)
            return None
        return state

    def due(self, updates, steps):
        return self.every > 0 and updates % self.every == 0 and updates < steps

    def save(self, state):
        with atomic_output(self.path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint}, tmp)

    def clear(self):
        self.path.unlink(missing_ok=True)


def fingerprint(params, *input_files):
    """sha256 of the run's settings (a mapping) and input files: a saved state is reused only on a
    match."""
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode())
    for path in input_files:
        digest.update(sha256_of(path).encode())
    return digest.hexdigest()


def train(
    model,
    tokens,
    groups,
    steps,
    batch_size,
    lr,
    weight_decay,
    seed,
    device,
    log_every,
    resume=None,
    options=PIPELINE,
):
    """Train `model` in place; return the training log (schemas.TRAINING_LOG) as a DataFrame.

    With a ResumePoint, the state is saved every `resume.every` updates and a saved state left by
    an interrupted run is continued from; on the CPU the result is bit-identical to a run that
    was never interrupted. A non-finite loss stops training with PipelineError naming the step.
    `options` (step.StepOptions) choose kernels and compilation, not what is computed.
    """
    step_once = TrainStep(model, groups, lr, weight_decay, device, options)
    optimizer, names = step_once.optimizer, step_once.probe.names
    generator = torch.Generator().manual_seed(seed)
    rows, start = [], 0
    state = resume.load() if resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        rows, start = list(state["rows"].to(device)), state["next_step"]
        log.info("resuming at step %d from %s", start, resume.path)
    checked, started = start, time.perf_counter()
    for step in range(start, steps + 1):
        x, y = (
            to_device(t, device)
            for t in random_windows(tokens, batch_size, model.cfg.context, generator)
        )
        rows.append(step_once(x, y, update=step < steps))
        saving = resume is not None and resume.due(step + 1, steps)
        if saving or step % log_every == 0 or step == steps:
            checked = _check_finite(rows, checked)
            _report(step, start, steps, rows[-1].tolist(), names, y.numel(), started)
        if saving:
            resume.save(
                {
                    "next_step": step + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "rows": torch.stack(rows).cpu(),
                }
            )
    if options.compile:
        log.info("%s (cache: %s)", compile_report(), os.environ.get("TORCHINDUCTOR_CACHE_DIR"))
    return _as_table(torch.stack(rows).cpu().numpy(), names)


def _check_finite(rows, first):
    """Stop at the first non-finite loss from row `first` on; return len(rows)."""
    losses = torch.stack([row[0] for row in rows[first:]])
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        step = first + int(bad[0])
        raise PipelineError(
            f"training diverged: the loss is {losses[bad[0]].item()} at step {step}; "
            "lower train.lr (no training log was written)"
        )
    return len(rows)


def save_checkpoint(model, path, steps):
    """The trained weights and the model config, written atomically."""
    with atomic_output(path) as tmp:
        torch.save({"config": asdict(model.cfg), "steps": steps, "model": model.state_dict()}, tmp)


def load_checkpoint(path):
    """The model saved by save_checkpoint, on the CPU."""
    saved = torch.load(path, map_location="cpu")
    model = GPT(GPTConfig(**saved["config"]))
    model.load_state_dict(saved["model"])
    return model


def _report(step, start, steps, row, names, tokens_per_step, started):
    elapsed = time.perf_counter() - started
    rate = tokens_per_step * (step + 1 - start) / elapsed
    left = elapsed / (step + 1 - start) * (steps - step)
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
