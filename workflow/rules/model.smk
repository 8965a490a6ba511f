MODEL_KEYS = ("context", "n_embd", "n_head", "n_layer")


rule probe_untrained:
    input:
        tokens=rules.tokenize.output.tokens,
        groups=rules.select_groups.output.groups,
        lib=lib(
            "batches",
            "groups",
            "head",
            "model",
            "precision",
            "probe",
            "schemas",
            "tokens",
        ),
    output:
        groups=f"{OUT}/probe/probe_groups.parquet",
        tokens=f"{OUT}/probe/probe_tokens.parquet",
    log:
        f"{OUT}/logs/probe_untrained.log",
    benchmark:
        f"{OUT}/benchmarks/probe_untrained.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["probe"]["threads"]
    params:
        model={k: config["model"][k] for k in MODEL_KEYS},
        model_seed=config["model"]["seed"],
        batches=config["probe"]["batches"],
        batch_size=config["probe"]["batch_size"],
        seed=config["probe"]["seed"],
        precision=config["train"]["precision"],
    script:
        "../scripts/probe_untrained.py"


rule train:
    input:
        tokens=rules.tokenize.output.tokens,
        groups=rules.select_groups.output.groups,
        lib=lib(
            "batches",
            "groups",
            "head",
            "model",
            "precision",
            "probe",
            "schemas",
            "step",
            "tokens",
            "train",
        ),
    output:
        log=f"{OUT}/train/training_log.parquet",
        checkpoint=f"{OUT}/train/model.pt",
    log:
        f"{OUT}/logs/train.log",
    benchmark:
        f"{OUT}/benchmarks/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=config["train"]["gpus"],
    params:
        model={k: config["model"][k] for k in MODEL_KEYS},
        model_seed=config["model"]["seed"],
        steps=config["train"]["steps"],
        batch_size=config["train"]["batch_size"],
        lr=config["train"]["lr"],
        weight_decay=config["train"]["weight_decay"],
        seed=config["train"]["seed"],
        device=config["train"]["device"],
        precision=config["train"]["precision"],
        log_every=config["train"]["log_every"],
        fused_head=config["train"]["fused_head"],
        pad_vocab=config["train"]["pad_vocab"],
        adamw=config["train"]["adamw"],
        compile=config["train"]["compile"],
        compile_mode=config["train"]["compile_mode"],
        checkpoint_every=config["train"]["checkpoint_every"],
        resume_path=f"{OUT}/train/resume.pt",
    script:
        "../scripts/train_model.py"


rule probe_vocab:
    input:
        tokens=rules.tokenize.output.tokens,
        checkpoint=rules.train.output.checkpoint,
        lib=lib(
            "batches",
            "head",
            "model",
            "precision",
            "probe",
            "schemas",
            "step",
            "tokens",
            "train",
        ),
    output:
        logprobs=f"{OUT}/probe/vocab_logprobs.parquet",
    log:
        f"{OUT}/logs/probe_vocab.log",
    benchmark:
        f"{OUT}/benchmarks/probe_vocab.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["probe"]["threads"]
    params:
        model_seed=config["model"]["seed"],
        batches=config["probe"]["batches"],
        batch_size=config["probe"]["batch_size"],
        seed=config["probe"]["seed"],
        precision=config["train"]["precision"],
    script:
        "../scripts/probe_vocab.py"
