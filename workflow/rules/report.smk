# Every run of the study gathered over seeds, then one report.


rule aggregate:
    input:
        frequency=rules.count_tokens.output.frequency,
        logs=every_run(rules.train.output.log),
        probes=every_run(rules.probe_untrained.output.groups),
        vocab=every_run(rules.probe_vocab.output.logprobs),
        control=every_run(rules.probe_vocab.output.control),
        lib=lib("scripts/aggregate_runs.py"),
    output:
        steps=f"{OUT}/aggregate/steps.parquet",
        summary=f"{OUT}/aggregate/summary.parquet",
        differences=f"{OUT}/aggregate/differences.parquet",
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
        "../scripts/aggregate_runs.py"


rule report:
    input:
        template=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
        frequency=rules.count_tokens.output.frequency,
        summary=rules.count_tokens.output.summary,
        groups=rules.select_groups.output.groups,
        steps=rules.aggregate.output.steps,
        final=rules.aggregate.output.summary,
        differences=rules.aggregate.output.differences,
        claims=rules.aggregate.output.claims,
        logs=every_run(rules.train.output.log),
        probe_groups=every_run(rules.probe_untrained.output.groups),
        probe_tokens=every_run(rules.probe_untrained.output.tokens),
        vocab=every_run(rules.probe_vocab.output.logprobs),
        control=every_run(rules.probe_vocab.output.control),
        benchmarks=benchmark_files,
        lib=lib("scripts/render_report.py", "notebooks/report.ipynb"),
    output:
        **{name: figure(name) for name in FIGURES},
        notebook=f"{OUT}/report/report.ipynb",
        html=report(
            f"{OUT}/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        svg=expand(f"{OUT}/report/figures/{{name}}.svg", name=FIGURES),
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
        makers=makers,
    script:
        "../scripts/render_report.py"
