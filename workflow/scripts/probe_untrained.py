"""probe_untrained rule: group log-probabilities of a run's freshly initialised model."""

from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage
from unused_tokens.pipeline.study import ProbeSettings
from unused_tokens.training.probe import probe_groups
from unused_tokens.training.run_context import run_context

with stage(snakemake) as log:
    context = run_context(snakemake, log, probe=True)
    group_table, token_table = probe_groups(
        context.untrained_model(),
        context.tokens,
        context.groups(snakemake.input.groups),
        ProbeSettings(**snakemake.params.probe),
        context.precision,
        context.device,
    )
    token_table["token_id"] = context.vocabulary.ids[token_table["token_id"]].astype("int32")
    metadata = context.metadata()
    write_parquet(group_table, snakemake.output.groups, schemas.PROBE_GROUPS, metadata)
    write_parquet(token_table, snakemake.output.tokens, schemas.PROBE_TOKENS, metadata)
    log.info("untrained probe:\n%s", group_table.to_string(index=False))
