"""finetune rule: one arm's model, fine-tuned on the second book, its loss split and probes logged
every step (unused_tokens/training/finetune.py says how each arm starts)."""

from unused_tokens.model.gpt import load_model
from unused_tokens.pipeline import names, schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage
from unused_tokens.pipeline.study import Study
from unused_tokens.training.finetune import reset_unseen_rows
from unused_tokens.training.progress import CpuLimit
from unused_tokens.training.run_context import run_context
from unused_tokens.training.train import train, use_compile_cache

with stage(snakemake) as log:
    context = run_context(snakemake, log)  # the second book's tokens, the first book's counts
    run, runtime, arm = context.run, context.runtime, snakemake.wildcards.arm
    use_compile_cache(runtime.compile_cache)
    model = context.untrained_model() if arm == "fresh" else load_model(snakemake.input.model[0])
    if arm == "pretrained_reset":
        log.info(
            "reset: %d rows of ids with count 0 in the first book",
            len(reset_unseen_rows(model, context.counts)),
        )
    groups = context.groups(snakemake.input.groups)
    scoring, new = snakemake.params.held_out, groups[names.NEW_GROUP]
    held_out = context.held_out(snakemake.input.held_out, scoring, split_ids=new)
    log.info(
        "held-out loss every %d steps: %d positions, %d of them with a new token as target",
        held_out.every,
        *held_out.positions[:2],
    )
    trained = train(
        model,
        context.tokens,
        groups,
        run.train,
        run.finetune_seed,
        context.device,
        runtime.step_options(context.precision.name),
        runtime.log_every,
        cpu_limit=CpuLimit(
            runtime.cpu_limit_hours,
            runs=len(names.ARMS) * len(Study.from_config(snakemake.config).seeds),
            quick=snakemake.params.quick,
        ),
        split_ids=new,
        held_out=held_out,
        record=context.step_time_recorder(
            scoring, snakemake.config["finetune"]["corpus"]["sha256"]
        ),
    )
    write_parquet(
        trained.log, snakemake.output.log, schemas.FINETUNE_LOG, {**context.metadata(), "arm": arm}
    )
