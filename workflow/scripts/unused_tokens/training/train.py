"""Train the model on random windows of the corpus, logging loss and group probes every step,
and the held-out slice's loss at the steps held_out.HeldOut scores it.

Step 0 is measured before the first update, so `steps` updates give `steps + 1` log rows. The
loss and the group means of every step stay on the device and are copied to the host once at the
end; progress lines (progress.py) and saves of the training state are the only
synchronisation.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.frequency import inverse_frequency_weights
from ..model.gpt import save_atomically
from ..pipeline import names, schemas
from ..pipeline.errors import PipelineError
from ..pipeline.files import sha256_of
from ..pipeline.step_options import PIPELINE
from .batches import random_windows, to_device
from .progress import UNLIMITED, Abandoned, Progress, interruptible
from .step import TrainStep, compile_report, timing

log = logging.getLogger(__name__)


def use_compile_cache(folder):
    """Keep torch.compile's artefacts in `folder` so later runs skip compiling.

    Safe to share between runs: PyTorch keys every cached artefact by the graph, the input
    shapes, the device and its own version, and recompiles on any mismatch.
    """
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(folder).resolve())


STATE_KEYS = {"next_step", "model", "optimizer", "generator", "rows", "targets"}  # a saved state


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
        """The saved state, or None: where there is none, where another run wrote it, or where
        it cannot be read (damaged: a log line says so, and training starts afresh; the next
        save replaces it)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu")
            written_by = state["fingerprint"]
        except Exception as err:  # any damage: a truncated zip, a pickle of something else
            log.warning(
                "ignoring %s: it cannot be read (%s: %s); training starts from step 0",
                self.path,
                type(err).__name__,
                err,
            )
            return None
        if written_by != self.fingerprint:
            log.warning("ignoring %s: written by a run with other inputs or settings", self.path)
            return None
        if missing := sorted(STATE_KEYS - set(state)):
            log.warning(
                "ignoring %s: written by an older version of the pipeline (no %s); training "
                "starts from step 0",
                self.path,
                ", ".join(missing),
            )
            return None
        return state

    def due(self, updates, steps):
        return self.every > 0 and updates % self.every == 0 and updates < steps

    def save(self, state):
        save_atomically({**state, "fingerprint": self.fingerprint}, self.path)

    def clear(self):
        self.path.unlink(missing_ok=True)


@dataclass
class Trained:
    """What train() returns: the training log (schemas.TRAINING_LOG or FINETUNE_LOG) and how
    many times each model index was a target of an update (the last, unupdated step's batch
    not counted): an id never a target was never trained toward."""

    log: pd.DataFrame
    target_counts: np.ndarray


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
    settings,
    seed,
    device,
    options=PIPELINE,
    log_every=10,
    resume=None,
    counts=None,
    cpu_limit=UNLIMITED,
    split_ids=None,
    held_out=None,
    record=None,
):
    """Train `model` in place; return Trained: the training log (schemas.TRAINING_LOG) as a
    DataFrame, and how often each model index was a training target.

    settings: settings.TrainSettings (steps, batch size, AdamW's lr, weight decay and which
    parameters decay, whether the rows of unseen ids get zero gradient, how the loss is
    weighted); counts: every id's count in the corpus, needed by the last two; seed: that of the
    random training windows; groups: {name: ids} for names.GROUP_NAMES, in that order.
    With a ResumePoint, the state is saved every `resume.every` updates and a saved state left by
    an interrupted run is continued from; on the CPU the result is bit-identical to a run that
    was never interrupted; SIGINT or SIGTERM stops training at once, leaving the step under way
    undone (or, once its update has begun, after it), with the state saved as of the last step
    done. A non-finite loss stops training with PipelineError naming the step. On
    the CPU, training stops after its first steady steps when the study's runs would take over
    the `cpu_limit` (progress.CpuLimit) one after another on an unloaded machine.
    `options` (step_options.StepOptions) choose kernels and compilation, not what is computed.
    With split_ids (fine-tuning: the new group's ids), the log also splits the loss by whether
    the target is one of them (schemas.FINETUNE_LOG), and groups are FINETUNE_GROUP_NAMES.
    held_out (held_out.HeldOut, split in training by the ids never in the training text, in
    fine-tuning by split_ids) is scored before the update of each of its steps; without it the
    held-out columns are NaN (a vocabulary that cannot read the slice).
    `record` is called with the estimate's seconds per steady step and per held-out scoring
    (progress.Progress).
    """
    expected, row = (
        (names.GROUP_NAMES, schemas.LOG_ROW)
        if split_ids is None
        else (names.FINETUNE_GROUP_NAMES, schemas.FINETUNE_ROW)
    )
    if list(groups) != list(expected):
        raise ValueError(f"groups {list(groups)} are not {list(expected)}")
    steps = settings.steps
    weighted = settings.loss_weighting == "inverse_frequency"
    if (settings.freeze_unseen or weighted) and counts is None:
        raise ValueError("train.freeze_unseen and train.loss_weighting need the corpus's counts")
    frozen = np.flatnonzero(counts == 0) if settings.freeze_unseen else None
    weights = torch.from_numpy(inverse_frequency_weights(counts)) if weighted else None
    step_once = TrainStep(model, groups, settings, device, options, frozen, weights, split_ids)
    width = sum(name.startswith("held_out_") for name in row)
    unscored = torch.full((width,), torch.nan, dtype=torch.float64, device=device)
    optimizer = step_once.optimizer
    generator = torch.Generator().manual_seed(seed)
    rows, start = [], 0
    targets = torch.zeros(model.cfg.vocab_size, dtype=torch.int64, device=device)
    state = resume.load() if resume else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        rows, start = list(state["rows"].to(device)), state["next_step"]
        targets = state["targets"].to(device)
        log.info("resuming at step %d from %s", start, resume.path)
    tokens_per_step = settings.batch_size * model.cfg.context
    progress = Progress(
        start,
        steps,
        tokens_per_step,
        log_every,
        row=row,
        record=record,
        timing=timing(device),
        scorings_after=None if held_out is None else lambda s: held_out.scorings_after(s, steps),
    )
    checked = start

    def save(next_step, generator_state):
        resume.save(
            {
                "next_step": next_step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator_state,
                "rows": torch.stack(rows).cpu(),
                "targets": targets.cpu(),
            }
        )
        log.info("step %d: training state saved to %s", next_step - 1, resume.path)

    with interruptible() as signals, progress.heartbeat():
        update_begins = optimizer.register_step_pre_hook(signals.close)
        try:
            for step in range(start, steps + 1):
                before_step = generator.get_state()
                signals.open()  # from here to the update a signal leaves the step undone
                progress.begin(step)
                x, y = (
                    to_device(t, device)
                    for t in random_windows(
                        tokens, settings.batch_size, model.cfg.context, generator
                    )
                )
                scored = unscored
                if held_out is not None and held_out.due(step, steps):
                    with progress.scoring():
                        scored = held_out.losses(step_once)
                rows.append(torch.cat([step_once(x, y, update=step < steps), scored]))
                if step < steps:
                    targets.index_add_(0, y.reshape(-1), torch.ones_like(y.reshape(-1)))
                signals.close()
                stopping = bool(signals.received) and step < steps
                saving = resume is not None and (resume.due(step + 1, steps) or stopping)
                if saving or progress.due(step):
                    checked = _check_finite(rows, checked)
                    progress.report(step, rows[-1].tolist())
                progress.end(step)
                progress.check_estimate(step, cpu_limit, torch.get_num_threads())
                if saving:
                    save(step + 1, generator.get_state())
                if stopping:
                    saved = f"saved to {resume.path}" if resume else "not saved"
                    raise PipelineError(
                        f"interrupted by {signals.received[0]} at step {step}: the training "
                        f"state is {saved}; run the same command again to go on from step "
                        f"{step + 1}"
                    )
        except Abandoned as signal_name:
            if resume is None:
                saved = "not saved"
            elif step > start:
                save(step, before_step)
                saved = f"saved to {resume.path}"
            else:  # nothing done since the state was loaded, or none at all
                saved = f"in {resume.path}" if start else "not saved (no step was done)"
            raise PipelineError(
                f"interrupted by {signal_name} during step {step}, which is left undone: the "
                f"training state is {saved}; run the same command again to go on from step "
                f"{step}"
            ) from None
        finally:
            update_begins.remove()
    if options.compile:
        log.info("%s (cache: %s)", compile_report(), os.environ.get("TORCHINDUCTOR_CACHE_DIR"))
    table = pd.DataFrame(torch.stack(rows).cpu().numpy(), columns=row)
    table.insert(0, "step", range(len(table)))
    return Trained(table, targets.cpu().numpy())


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
