# Fine-tuning on the second book (finetune.enabled): its new group, then one run per arm and
# seed (wildcards), then the arms gathered over seeds. See unused_tokens/training/finetune.py.


rule select_finetune_group:
    input:
        groups=first(rules.select_groups.output.groups),
        pretrain=first(rules.count_tokens.output.frequency),
        finetune=first(rules.count_tokens.output.frequency, "finetune"),
    output:
        groups=f"{OUT}/data/finetune_groups.parquet",
    log:
        f"{OUT}/logs/select_finetune_group.log",
    benchmark:
        f"{OUT}/benchmarks/select_finetune_group.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        size=config["groups"]["size"],
        makers=makers,
        helpers=helpers("select_finetune_group"),
    script:
        "../scripts/select_finetune_group.py"


rule finetune:
    input:
        tokens=first(rules.tokenize_corpus.output.tokens, "finetune"),
        held_out=first(rules.tokenize_corpus.output.held_out, "finetune"),
        frequency=first(rules.count_tokens.output.frequency),
        groups=rules.select_finetune_group.output.groups,
        model=lambda w: (
            []
            if w.arm == "fresh"
            else [
                rules.train.output.model.format(
                    tokenizer=GPT2, variant=BASELINE_VARIANT, seed=w.seed
                )
            ]
        ),
    output:
        log=f"{TUNE}/log.parquet",
    log:
        f"{TUNE}/logs/finetune.log",
    benchmark:
        f"{TUNE}/benchmarks/finetune.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["runtime"]["train_threads"]
    resources:
        **GPU_JOB,
    params:
        run=finetune_params,
        held_out=config["held_out"],
        quick=QUICK,
        makers=makers,
        helpers=helpers("finetune"),
    script:
        "../scripts/finetune.py"


rule aggregate_finetune:
    input:
        frequency=first(rules.count_tokens.output.frequency, "finetune"),
        held_out=first(rules.tokenize_corpus.output.held_out, "finetune"),
        groups=rules.select_finetune_group.output.groups,
        logs=every_finetune(rules.finetune.output.log),
    output:
        steps=f"{OUT}/finetune/steps.parquet",
        at_steps=f"{OUT}/finetune/at_steps.parquet",
        reach=f"{OUT}/finetune/reach.parquet",
        claims=f"{OUT}/finetune/claims.parquet",
        level=f"{OUT}/finetune/level.json",
    log:
        f"{OUT}/logs/aggregate_finetune.log",
    benchmark:
        f"{OUT}/benchmarks/aggregate_finetune.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        runs=[[arm, seed] for arm in ARMS for seed in STUDY.seeds],
        report_steps=config["finetune"]["report_steps"],
        context=config["model"]["context"],
        max_positions=config["held_out"]["max_positions"],
        steps=config["finetune"]["steps"],
        makers=makers,
        helpers=helpers("aggregate_finetune"),
    script:
        "../scripts/aggregate_finetune.py"
