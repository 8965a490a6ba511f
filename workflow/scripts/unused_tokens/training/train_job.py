"""One training run as the train rule runs it, from its job, and several runs one after another
in one process.

A job is what Snakemake hands a stage script (its input, output and params, its threads and the
config), or a stand-in with the same names. `train_jobs` trains several runs in one process, one
after another: the imports, the device's start-up and the compile cache are paid once, and each
run writes exactly the files the train rule writes for it, bit for bit, so that it stays its own
output (tests/test_workflow.py trains two runs of a study so and compares them with the rule's).
"""

from pathlib import Path

from ..model.gpt import save_model
from ..pipeline import schemas
from ..pipeline.files import write_parquet
from ..pipeline.study import Study, study_tokenizers
from .progress import CpuLimit
from .run_context import run_context
from .train import ResumePoint, fingerprint, train, use_compile_cache


def train_job(job, log):
    """Train the run of `job` from its initialisation (or its saved state), write its training
    log and model, and clear the saved state."""
    context = run_context(job, log)
    run, runtime = context.run, context.runtime
    use_compile_cache(runtime.compile_cache)
    model = context.untrained_model()
    log.info("model: %.1fM parameters", sum(t.numel() for t in model.parameters()) / 1e6)
    every = job.params.held_out_every
    settings = {**run.as_params(), "precision": context.precision.name, "held_out_every": every}
    i = job.input
    resume = ResumePoint(
        Path(job.params.resume),
        runtime.checkpoint_every,
        fingerprint(settings, i.tokens, i.held_out, i.groups),
    )
    held_out = context.held_out(i.held_out, every)
    if held_out is None:
        log.info("held-out loss: not scored, the vocabulary lacks ids of the held-out slice")
    else:
        log.info("held-out loss: %d positions, every %d steps", held_out.positions[0], every)
    table = train(
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
        record=context.step_time_recorder(job.params.tokenizer),
    )
    write_parquet(table, job.output.log, schemas.TRAINING_LOG, context.metadata())
    save_model(model, job.output.model, run.train.steps)
    resume.clear()


def train_jobs(jobs, log):
    """Train the runs of `jobs` one after another in this process."""
    for job in jobs:
        train_job(job, log)
