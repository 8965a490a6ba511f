"""select_groups rule: most_common, least_common and never_used token groups."""

import pandas as pd

from unused_tokens.data.groups import select_groups
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    freq = pd.read_parquet(snakemake.input.frequency)
    groups = select_groups(freq, snakemake.params.size, snakemake.params.seed)
    write_parquet(groups, snakemake.output.groups, schemas.GROUPS)
    for name, part in groups.groupby("group", sort=False):
        log.info("%s: counts %d..%d", name, part["count"].min(), part["count"].max())
