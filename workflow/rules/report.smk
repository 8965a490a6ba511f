# Every tokenizer's runs gathered over seeds, the tokenizers compared, then one report.


rule aggregate:
    input:
        frequency=pretrain(rules.count_tokens.output.frequency),
        logs=runs_of(rules.train.output.log),
        probes=runs_of(rules.probe_untrained.output.groups),
        vocab=runs_of(rules.probe_vocab.output.logprobs),
        control=runs_of(rules.probe_vocab.output.control),
    output:
        steps=f"{AGGREGATE}/steps.parquet",
        endpoints=f"{AGGREGATE}/endpoints.parquet",
        summary=f"{AGGREGATE}/summary.parquet",
        differences=f"{AGGREGATE}/differences.parquet",
        measures=f"{AGGREGATE}/measures.parquet",
        claims=f"{AGGREGATE}/claims.parquet",
        claims_page=report(
            f"{AGGREGATE}/claims.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
        headline=f"{AGGREGATE}/headline.json",
    log:
        f"{OUT}/logs/{{tokenizer}}/aggregate.log",
    benchmark:
        f"{OUT}/benchmarks/{{tokenizer}}/aggregate.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        study=lambda w: (
            STUDY.name if w.tokenizer == GPT2 else f"{STUDY.name}, {w.tokenizer}"
        ),
        runs=STUDY.runs(),
        makers=makers,
        helpers=helpers("aggregate"),
    script:
        "../scripts/aggregate.py"


rule compare_tokenizers:
    input:
        frequency=expand(
            pretrain(rules.count_tokens.output.frequency), tokenizer=TOKENIZERS
        ),
        summaries=expand(
            pretrain(rules.count_tokens.output.summary), tokenizer=TOKENIZERS
        ),
        endpoints=expand(rules.aggregate.output.endpoints, tokenizer=TOKENIZERS),
        measures=expand(rules.aggregate.output.measures, tokenizer=TOKENIZERS),
    output:
        facts=f"{OUT}/tokenizers/facts.parquet",
        summary=f"{OUT}/tokenizers/summary.parquet",
        differences=f"{OUT}/tokenizers/differences.parquet",
    log:
        f"{OUT}/logs/compare_tokenizers.log",
    benchmark:
        f"{OUT}/benchmarks/compare_tokenizers.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        tokenizers=TOKENIZERS,
        makers=makers,
        helpers=helpers("compare_tokenizers"),
    script:
        "../scripts/compare_tokenizers.py"


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
        **(  # the tokenizers compared, where the study has more than GPT-2's
            {
                "tokenizer_claims_paths": expand(
                    rules.aggregate.output.claims, tokenizer=TOKENIZERS
                ),
                **{
                    f"tokenizers_{k}_path": v
                    for k, v in rules.compare_tokenizers.output.items()
                },
            }
            if ADDED
            else {}
        ),
        **(  # the coverage tables of each tokenizer, where the coverage study is on
            {
                f"coverage_{k}_paths": expand(v, tokenizer=TOKENIZERS)
                for k, v in rules.coverage.output.items()
            }
            if COVERAGE["enabled"]
            else {}
        ),
        template=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
        html_template=f"{workflow.basedir}/workflow/notebooks/offline.html.j2",
        frequency_path=first(rules.count_tokens.output.frequency),
        frequency_summary_path=first(rules.count_tokens.output.summary),
        groups_path=first(rules.select_groups.output.groups),
        steps_path=first(rules.aggregate.output.steps),
        endpoints_path=first(rules.aggregate.output.endpoints),
        summary_path=first(rules.aggregate.output.summary),
        differences_path=first(rules.aggregate.output.differences),
        measures_path=first(rules.aggregate.output.measures),
        claims_path=first(rules.aggregate.output.claims),
        training_log_paths=every_run(rules.train.output.log),
        probe_groups_paths=every_run(rules.probe_untrained.output.groups),
        probe_tokens_paths=every_run(rules.probe_untrained.output.tokens),
        vocab_paths=every_run(rules.probe_vocab.output.logprobs),
        control_paths=every_run(rules.probe_vocab.output.control),
        weights_geometry_path=first(rules.aggregate_weights.output.geometry),
        weights_detection_path=first(rules.aggregate_weights.output.detection),
        weights_features_paths=every_run(rules.weights.output.features),
        benchmarks=benchmark_files,
        corpus_provenance_path=first(rules.download_corpus.output.provenance),
        stability_verdicts_path=f"{workflow.basedir}/config/stability_verdicts.tsv",
        tokenizer_provenance_paths=[
            rules.download_tokenizer.output.provenance,
            *expand(rules.download_added_tokenizer.output.provenance, added=ADDED),
        ],
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
        helpers=helpers("report"),
    script:
        "../scripts/report.py"
