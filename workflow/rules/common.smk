STUDY = Study.from_config(config)
OUT = f"results/{STUDY.name}"
RUN = f"{OUT}/runs/{{variant}}/seed{{seed}}"  # one training run: a variant and a seed


def lib(*sources):
    """The helper modules a stage's script (and notebook), under workflow/, import: inputs, so
    that editing one reruns the stage (unused_tokens/modules.py)."""
    return helper_modules(
        *(f"{workflow.basedir}/workflow/{source}" for source in sources)
    )


def run_params(wildcards):
    """The Run of a job's variant and seed, as its params: what the run computes."""
    return STUDY.run(wildcards.variant, wildcards.seed).as_params()


def untrained_params(wildcards):
    """run_params without the training settings, for the probes (see Run.as_params)."""
    return STUDY.run(wildcards.variant, wildcards.seed).as_params(untrained=True)


def makers(wildcards, input):
    """For each Parquet input of a job, the name of the rule that writes it (for the message
    when one is unreadable)."""
    return {
        path: each.name
        for path in input
        if path.endswith(".parquet")
        for each in workflow.rules
        if each.is_producer(path)
    }


def every_run(pattern):
    """`pattern` (a path with {variant} and {seed}) for every run of the study, in order."""
    return [
        pattern.format(variant=variant, seed=seed) for variant, seed in STUDY.runs()
    ]


def benchmark_files(wildcards):
    """Every job's benchmark file but the report's own, for the report's table of durations."""
    files = []
    for each in workflow.rules:
        if each.benchmark and each.name != "report":
            files += every_run(strip_wildcard_constraints(each.benchmark))
    return list(dict.fromkeys(files))


def figure(name):
    """A PNG figure of the report, also shown in `snakemake --report` with its caption."""
    return report(
        f"{OUT}/report/figures/{name}.png",
        caption=f"../report/{name}.rst",
        category=FIGURES[name],
    )
