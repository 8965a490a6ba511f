"""library rule: the stamp of one stage's helper modules, their paths and sha256 (a script job,
not a `run:` block: Snakemake starts a whole new snakemake process for each local `run:` job,
which cost about 3 s for each of a study's dozen stamps)."""

from unused_tokens.pipeline.modules import write_stamp
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    count = write_stamp(snakemake.input, snakemake.output[0])
    log.info("%d helper modules stamped in %s", count, snakemake.output[0])
