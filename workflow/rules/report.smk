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
        **(  # the fine-tuning's tables, each as finetune_<name>_path, where it is on
            {
                "finetune_groups_path": rules.select_finetune_group.output.groups,
                **{
                    f"finetune_{k}_path": v
                    for k, v in rules.aggregate_finetune.output.items()
                },
            }
            if FINETUNE
            else {}
        ),
        template=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
        html_template=f"{workflow.basedir}/workflow/notebooks/offline.html.j2",
        frequency_path=pretrain(rules.count_tokens.output.frequency),
        frequency_summary_path=pretrain(rules.count_tokens.output.summary),
        groups_path=rules.select_groups.output.groups,
        steps_path=rules.aggregate.output.steps,
        endpoints_path=rules.aggregate.output.endpoints,
        summary_path=rules.aggregate.output.summary,
        differences_path=rules.aggregate.output.differences,
        measures_path=rules.aggregate.output.measures,
        claims_path=rules.aggregate.output.claims,
        training_log_paths=every_run(rules.train.output.log),
        probe_groups_paths=every_run(rules.probe_untrained.output.groups),
        probe_tokens_paths=every_run(rules.probe_untrained.output.tokens),
        vocab_paths=every_run(rules.probe_vocab.output.logprobs),
        control_paths=every_run(rules.probe_vocab.output.control),
        weights_geometry_path=rules.aggregate_weights.output.geometry,
        weights_detection_path=rules.aggregate_weights.output.detection,
        weights_features_paths=every_run(rules.weights.output.features),
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
        figures_dir=lambda wildcards, output: os.path.dirname(output.training),
        finetune=config["finetune"],
        makers=makers,
    script:
        "../scripts/report.py"
