# Every run of the study gathered over seeds, then one report.


rule aggregate:
    input:
        frequency=pretrain(rules.count_tokens.output.frequency),
        logs=every_run(rules.train.output.log),
        probes=every_run(rules.probe_untrained.output.groups),
        vocab=every_run(rules.probe_vocab.output.logprobs),
        control=every_run(rules.probe_vocab.output.control),
        lib=lib("aggregate"),
    output:
        steps=f"{OUT}/aggregate/steps.parquet",
        endpoints=f"{OUT}/aggregate/endpoints.parquet",
        summary=f"{OUT}/aggregate/summary.parquet",
        differences=f"{OUT}/aggregate/differences.parquet",
        measures=f"{OUT}/aggregate/measures.parquet",
        claims=f"{OUT}/aggregate/claims.parquet",
        claims_page=report(
            f"{OUT}/aggregate/claims.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
        headline=f"{OUT}/aggregate/headline.json",
    log:
        f"{OUT}/logs/aggregate.log",
    benchmark:
        f"{OUT}/benchmarks/aggregate.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        study=STUDY.name,
        runs=STUDY.runs(),
        makers=makers,
    script:
        "../scripts/aggregate.py"


rule report:
    input:
        **(  # the fine-tuning's tables, each as finetune_<name>, where it is on
            {
                "finetune_groups": rules.select_finetune_group.output.groups,
                **{
                    f"finetune_{k}": v
                    for k, v in rules.aggregate_finetune.output.items()
                },
            }
            if FINETUNE
            else {}
        ),
        template=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
        frequency=pretrain(rules.count_tokens.output.frequency),
        summary=pretrain(rules.count_tokens.output.summary),
        groups=rules.select_groups.output.groups,
        steps=rules.aggregate.output.steps,
        endpoints=rules.aggregate.output.endpoints,
        final=rules.aggregate.output.summary,
        differences=rules.aggregate.output.differences,
        measures=rules.aggregate.output.measures,
        claims=rules.aggregate.output.claims,
        logs=every_run(rules.train.output.log),
        probe_groups=every_run(rules.probe_untrained.output.groups),
        probe_tokens=every_run(rules.probe_untrained.output.tokens),
        vocab=every_run(rules.probe_vocab.output.logprobs),
        control=every_run(rules.probe_vocab.output.control),
        weights_geometry=rules.aggregate_weights.output.geometry,
        weights_detection=rules.aggregate_weights.output.detection,
        weights_features=every_run(rules.weights.output.features),
        benchmarks=benchmark_files,
        lib=lib("report"),
    output:
        **{name: figure(name) for name in REPORT_FIGURES},
        notebook=f"{OUT}/report/report.ipynb",
        html=report(
            f"{OUT}/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        svg=expand(f"{OUT}/report/figures/{{name}}.svg", name=REPORT_FIGURES),
    log:
        f"{OUT}/logs/report.log",
    benchmark:
        f"{OUT}/benchmarks/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        study=STUDY.name,
        experiment=experiment(config),
        runs=STUDY.runs(),
        figures=lambda wildcards, output: os.path.dirname(output.training),
        finetune=config["finetune"],
        makers=makers,
    script:
        "../scripts/report.py"
