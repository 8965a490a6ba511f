rule report:
    input:
        template="workflow/notebooks/report.ipynb",
        frequency=rules.count_tokens.output.frequency,
        summary=rules.count_tokens.output.summary,
        groups=rules.select_groups.output.groups,
        probe_groups=rules.probe_untrained.output.groups,
        probe_tokens=rules.probe_untrained.output.tokens,
        training_log=rules.train.output.log,
        vocab_logprobs=rules.probe_vocab.output.logprobs,
        benchmarks=expand(f"{OUT}/benchmarks/{{rule}}.tsv", rule=MEASURED_RULES),
        lib=lib("frequency", "render", "report", "schemas"),
    output:
        notebook=f"{OUT}/report/report.ipynb",
        html=f"{OUT}/report/report.html",
        rank_frequency=figure("rank_frequency"),
        untrained_probe=figure("untrained_probe"),
        untrained_token_spread=figure("untrained_token_spread"),
        training=figure("training"),
        vocabulary_final=figure("vocabulary_final"),
        svg=expand(f"{OUT}/report/figures/{{name}}.svg", name=FIGURES),
    log:
        f"{OUT}/logs/report.log",
    benchmark:
        f"{OUT}/benchmarks/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        run_name=config["run_name"],
        config=experiment_config(),
    script:
        "../scripts/render_report.py"
