# What the trained weights say about each token, per run, then gathered over seeds.
# See unused_tokens/analysis/weights.py.


rule weights:
    input:
        tokens=pretrain(rules.tokenize_corpus.output.tokens),
        frequency=pretrain(rules.count_tokens.output.frequency),
        model=rules.train.output.model,
        vocab=rules.probe_vocab.output.logprobs,
    output:
        features=f"{RUN}/weights/features.parquet",
        geometry=f"{RUN}/weights/geometry.parquet",
        detection=f"{RUN}/weights/detection.parquet",
    log:
        f"{RUN}/logs/weights.log",
    benchmark:
        f"{RUN}/benchmarks/weights.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["runtime"]["probe_threads"]
    params:
        run=untrained_params,
        detector=config["detector"],
        makers=makers,
        helpers=helpers("weights"),
    script:
        "../scripts/weights.py"


rule aggregate_weights:
    input:
        geometry=runs_of(rules.weights.output.geometry),
        detection=runs_of(rules.weights.output.detection),
    output:
        geometry=f"{OUT}/aggregate/{{tokenizer}}/geometry.parquet",
        detection=f"{OUT}/aggregate/{{tokenizer}}/detection.parquet",
    log:
        f"{OUT}/logs/{{tokenizer}}/aggregate_weights.log",
    benchmark:
        f"{OUT}/benchmarks/{{tokenizer}}/aggregate_weights.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        runs=STUDY.runs(),
        makers=makers,
        helpers=helpers("aggregate_weights"),
    script:
        "../scripts/aggregate_weights.py"
