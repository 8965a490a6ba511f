"""train rule: train one run's model, log loss and group probes every step, save the weights."""

from unused_tokens.pipeline.stage import stage
from unused_tokens.training.train_job import train_job

with stage(snakemake) as log:
    train_job(snakemake, log)
