rule report:
    input:
        template="workflow/notebooks/report.ipynb",
        summary=rules.count_tokens.output.summary,
        groups=rules.select_groups.output.groups,
        probe_groups=rules.probe_untrained.output.groups,
        training_log=rules.train.output.log,
        lib=lib("render", "report", "schemas"),
    output:
        notebook=f"{OUT}/report/report.ipynb",
        html=f"{OUT}/report/report.html",
        probe_figure=report(
            f"{OUT}/report/figures/untrained_probe.png",
            caption="../report/untrained_probe.rst",
            category="Untrained model",
        ),
        training_figure=report(
            f"{OUT}/report/figures/training.png",
            caption="../report/training.rst",
            category="Training",
        ),
    log:
        f"{OUT}/logs/report.log",
    benchmark:
        f"{OUT}/benchmarks/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        run_name=config["run_name"],
    script:
        "../scripts/render_report.py"
