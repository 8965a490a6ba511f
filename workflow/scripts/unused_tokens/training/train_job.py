"""One training run as the train rule runs it, from its job, in the job's process or in a warm
trainer that runs one job after another (training/shared_process.py).

A job is what Snakemake hands a stage script (its input, output and params, its threads, log and
config), or a stand-in with the same names. A run trained after others in one process writes
exactly the files it writes alone, bit for bit (tests/test_workflow.py).
"""

import gc
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..data.groups import read_groups
from ..model.gpt import save_model
from ..pipeline import schemas
from ..pipeline.files import write_parquet
from ..pipeline.stage import stage
from ..pipeline.study import Study, study_tokenizers
from .progress import CpuLimit
from .run_context import run_context
from .train import ResumePoint, fingerprint, train, use_compile_cache


def train_stage(job, trainer=None):
    """The train rule's stage: train_job, logging to the job's log file, its errors in one line
    (pipeline/stage.py). `trainer`, (pid, jobs so far), names the warm process it runs in."""
    pid, jobs = trainer or (None, None)
    where = trainer and f"in trainer process {pid}, its job {jobs} (runtime.shared_process)"
    with stage(job, where) as log:
        train_job(job, log)


def train_job(job, log):
    """Train the run of `job` from its initialisation (or its saved state), write its training
    log and model, and clear the saved state."""
    context = run_context(job, log)
    run, runtime = context.run, context.runtime
    use_compile_cache(runtime.compile_cache)
    model = context.untrained_model()
    log.info("model: %.1fM parameters", sum(t.numel() for t in model.parameters()) / 1e6)
    scoring = job.params.held_out
    settings = {**run.as_params(), "precision": context.precision.name, "held_out": scoring}
    i = job.input
    resume = ResumePoint(
        Path(job.params.resume),
        runtime.checkpoint_every,
        fingerprint(settings, i.tokens, i.held_out, i.groups),
    )
    held_out = context.held_out(i.held_out, scoring, np.flatnonzero(context.counts == 0))
    if held_out is None:
        log.info("held-out loss: not scored, the vocabulary lacks ids of the held-out slice")
    else:
        everything, unseen, _ = held_out.positions
        log.info(
            "held-out loss: %d positions (%d of them, %.2f%%, with a target never in the "
            "training text), every %d steps",
            everything,
            unseen,
            100 * unseen / everything,
            held_out.every,
        )
    trained = train(
        model,
        context.tokens,
        context.groups(i.groups),
        run.train,
        run.window_seed,
        context.device,
        runtime.step_options(context.precision.name),
        runtime.log_every,
        resume,
        counts=context.counts,
        cpu_limit=CpuLimit(
            runtime.cpu_limit_hours,
            # every training run of the study, each tokenizer's like this one
            runs=len(Study.from_config(job.config).runs()) * len(study_tokenizers(job.config)),
            quick=job.params.quick,
        ),
        held_out=held_out,
        record=context.step_time_recorder(
            scoring, job.config["corpus"]["sha256"], job.params.tokenizer
        ),
    )
    # how many held-out positions each held_out_* column averages over, none where unscored
    positions = {} if held_out is None else {"held_out_positions": json.dumps(held_out.positions)}
    targets = {"group_targets": group_targets(read_groups(i.groups), context, trained)}
    metadata = context.metadata() | positions | targets
    write_parquet(trained.log, job.output.log, schemas.TRAINING_LOG, metadata)
    save_model(model, job.output.model, run.train.steps)
    resume.clear()


def group_targets(groups, context, trained):
    """JSON of {group: {tokenizer id: times it was a training target}} for every member of
    every group (read_groups: tokenizer ids), 0 for an id the model does not cover."""
    counts = np.nan_to_num(context.vocabulary.decode(trained.target_counts))
    return json.dumps(
        {name: {str(i): int(counts[i]) for i in ids} for name, ids in groups.items()},
        sort_keys=True,
    )


def forget_run():
    """Drop what a run leaves in the process before the next one: torch.compile's graphs (each
    run traces its model as a fresh process would, from the same compile cache) and the device
    memory the run's tensors held."""
    gc.collect()
    if "torch._dynamo" in sys.modules:  # the run compiled (importing it costs about 2 s)
        torch._dynamo.reset()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
