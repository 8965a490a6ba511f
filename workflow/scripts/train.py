"""train rule: train one run's model, log loss and group probes every step, save the weights; with
runtime.shared_process, in a warm trainer process that the study's train jobs share."""

if snakemake.config["runtime"]["shared_process"]:
    from unused_tokens.training.shared_process import hand_over

    hand_over(snakemake)
else:
    from unused_tokens.training.train_job import train_stage

    train_stage(snakemake)
