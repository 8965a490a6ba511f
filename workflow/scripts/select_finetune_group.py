"""select_finetune_group rule: the second book's new tokens, and every group's counts in both."""

import pandas as pd

from unused_tokens.data.groups import finetune_groups
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    i = snakemake.input
    table = finetune_groups(
        pd.read_parquet(i.groups),
        pd.read_parquet(i.pretrain),
        pd.read_parquet(i.finetune),
        snakemake.params.size,
    )
    write_parquet(table, snakemake.output.groups, schemas.FINETUNE_GROUPS)
    counts = table.groupby("group", sort=False)["finetune_count"].agg(["size", "sum"])
    log.info("counts in the second book, per group (tokens, sum):\n%s", counts.to_string())
