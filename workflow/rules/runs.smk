# One training run per tokenizer, variant and seed (wildcards), each in its own folder RUN.


rule probe_untrained:
    input:
        tokens=pretrain(rules.tokenize_corpus.output.tokens),
        groups=rules.select_groups.output.groups,
        frequency=pretrain(rules.count_tokens.output.frequency),
    output:
        groups=f"{RUN}/probe/untrained_groups.parquet",
        tokens=f"{RUN}/probe/untrained_tokens.parquet",
    log:
        f"{RUN}/logs/probe_untrained.log",
    benchmark:
        f"{RUN}/benchmarks/probe_untrained.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["runtime"]["probe_threads"]
    params:
        run=untrained_params,
        probe=config["probe"],
        makers=makers,
        helpers=helpers("probe_untrained"),
    script:
        "../scripts/probe_untrained.py"


rule train:
    input:
        tokens=pretrain(rules.tokenize_corpus.output.tokens),
        held_out=pretrain(rules.tokenize_corpus.output.held_out),
        groups=rules.select_groups.output.groups,
        frequency=pretrain(rules.count_tokens.output.frequency),
    output:
        log=f"{RUN}/train/training_log.parquet",
        model=f"{RUN}/train/model.pt",
    log:
        f"{RUN}/logs/train.log",
    benchmark:
        f"{RUN}/benchmarks/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["runtime"]["train_threads"]
    resources:
        **GPU_JOB,
    params:
        run=run_params,
        tokenizer=lambda w: w.tokenizer,
        resume=f"{RUN}/train/resume.pt",
        held_out=config["held_out"],
        quick=QUICK,
        makers=makers,
        helpers=helpers("train"),
    script:
        "../scripts/train.py"


rule probe_vocab:
    input:
        tokens=pretrain(rules.tokenize_corpus.output.tokens),
        frequency=pretrain(rules.count_tokens.output.frequency),
        model=rules.train.output.model,
        groups=rules.select_groups.output.groups,
    output:
        logprobs=f"{RUN}/probe/vocab_logprobs.parquet",
        control=f"{RUN}/probe/masking_control.parquet",
    log:
        f"{RUN}/logs/probe_vocab.log",
    benchmark:
        f"{RUN}/benchmarks/probe_vocab.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["runtime"]["probe_threads"]
    params:
        run=untrained_params,
        probe=config["probe"],
        makers=makers,
        helpers=helpers("probe_vocab"),
    script:
        "../scripts/probe_vocab.py"
