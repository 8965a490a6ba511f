STUDY = Study.from_config(config)
OUT = f"results/{STUDY.name}"
BOOK = f"{OUT}/data/{{corpus}}"  # one book (names.CORPORA, coverage.books): its text
DATA = f"{BOOK}/{{tokenizer}}"  # one book cut by one tokenizer: its tokens and counts
RUN = f"{OUT}/runs/{{tokenizer}}/{{variant}}/seed{{seed}}"  # one training run
TUNE = f"{OUT}/finetune/{{arm}}/seed{{seed}}"  # one fine-tuning run: an arm and a seed
AGGREGATE = f"{OUT}/aggregate/{{tokenizer}}"  # one tokenizer's runs gathered over seeds
COVERAGE = config[
    "coverage"
]  # the coverage study: every tokenizer over books, no training
BOOK_KEYS = dict(zip(CORPORA, ("corpus", "finetune.corpus"))) | {
    name: f"coverage.books.{name}"
    for name, section in COVERAGE["books"].items()
    if section is not None  # null: left out
}  # each book's config section: the study's two, then the coverage study's
TOKENIZERS = study_tokenizers(config)  # GPT-2's first, the one the report follows
ADDED = TOKENIZERS[1:]  # the tokenizers beside GPT-2's (one file each)
FINETUNE = STUDY.finetune["enabled"]
# What a GPU job (train, finetune: the rules that give `resources: **GPU_JOB`) asks for: the
# GPUs, and of a cluster 2 hours and 16 GB in the GPU partition that profiles/slurm's
# UNUSED_TOKENS_GPU_PARTITION names (and the model UNUSED_TOKENS_GPU_MODEL, if set). The local
# profile's GPU limit counts `gpu`; a local run ignores the rest.
GPU_JOB = {
    "gpu": config["runtime"]["gpus"],
    "runtime": 120,
    "mem_mb": 16000,
} | gpu_resources(os.environ)
# Whether the study uses the quick overlay (the CPU guard's stop then does not suggest it).
QUICK = any(
    Path(f).resolve() == Path(workflow.basedir, QUICK_OVERLAY).resolve()
    for f in workflow.overwrite_configfiles
)


def profile_resources():
    """The default resources of the profile in use, as name=value strings (none locally)."""
    defaults = workflow.resource_settings.default_resources
    return list(getattr(defaults, "args", None) or [])


def training_to_do(planned=None):
    """plan.PlannedRun of each training and fine-tuning run of the study whose output is not
    there yet, or, given the paths the jobs `planned` will write, whose output is among them
    (pipeline/plan.py)."""
    runtime, held_out, todo = config["runtime"], config["held_out"], []
    to_do = (
        (lambda p: p in planned)
        if planned is not None
        else (lambda p: not os.path.exists(p))
    )

    def planned_run(what, run, book, tokenizer=GPT2):
        steps, every = run.train.steps, held_out["every"]
        kind, scoring = run_kinds(run, runtime, held_out, book["sha256"], tokenizer)
        threads = runtime["train_threads"]
        return PlannedRun(what, steps, kind, scorings(steps, every), scoring, threads)

    model = rules.train.output.model
    for tokenizer in TOKENIZERS:
        for variant, seed in STUDY.runs():
            if to_do(model.format(tokenizer=tokenizer, variant=variant, seed=seed)):
                run = STUDY.run(variant, seed)
                todo.append(planned_run("training", run, config["corpus"], tokenizer))
    for seed in STUDY.seeds if FINETUNE else ():
        for arm in ARMS:
            if to_do(f"{TUNE}/log.parquet".format(arm=arm, seed=seed)):
                run = STUDY.finetune_run(seed)
                todo.append(
                    planned_run("fine-tuning", run, config["finetune"]["corpus"])
                )
    return todo


def plan():
    """The plan line of the jobs Snakemake plans, at the load present now."""
    return plan_line(training_to_do(planned_outputs()), busy=Busy.now())


def planned_outputs():
    """The paths the jobs of this run write (Snakemake's plan, once it is made; a dry run's jobs
    count as finished once it has listed them)."""
    jobs = workflow.dag.needrun_jobs(exclude_finished=False)
    return {str(path) for job in jobs for path in job.output}


class DryRunPlan(logging.Handler):
    """Prints the plan line when Snakemake closes a dry run, from the jobs it plans: a run whose
    outputs exist but whose settings or code changed is counted, as Snakemake will rerun it.
    """

    def emit(self, record):
        if record.getMessage().startswith(("This was a dry-run", "Nothing to be done")):
            print(plan())


class DryRunListing(logging.Filter):
    """Leaves each job's own lines out of a dry run, so that it fits on a screen: the job
    counts (once, at the end: Snakemake gives them before and after the jobs), the reasons and
    the plan stay; `snakemake -np` lists every job, as Snakemake does."""

    def __init__(self):
        super().__init__()
        self.counted = False

    def filter(self, record):
        event = getattr(record, "event", None)
        if event == LogEvent.RUN_INFO and not self.counted:
            self.counted = True
            return False
        return event != LogEvent.JOB_INFO


def book(corpus):
    """The config section of a book: its title, sources, sha256 and stripping."""
    if corpus in CORPORA:
        return (
            config["corpus"] if corpus == "pretrain" else config["finetune"]["corpus"]
        )
    return COVERAGE["books"][corpus]


def pretrain(pattern):
    """A data rule's output `pattern` for the first book, the one every run trains on (each
    tokenizer's: {tokenizer} is left to the job's wildcard)."""
    return pattern.format(corpus="pretrain", tokenizer="{tokenizer}")


def first(pattern, corpus="pretrain"):
    """A rule's output `pattern` for GPT-2's tokens (of `corpus`, where it has one): what the
    report follows and fine-tuning uses."""
    return pattern.format(tokenizer=GPT2, corpus=corpus)


def tokenizer_files(wildcards):
    """The files of the job's tokenizer: GPT-2's vocab.bpe and encoder.json, else its model."""
    if wildcards.tokenizer == GPT2:
        out = rules.download_tokenizer.output
        return {"vocab_bpe": out.vocab_bpe, "encoder_json": out.encoder_json}
    return {
        "model": rules.download_added_tokenizer.output.model.format(
            added=wildcards.tokenizer
        )
    }


def tokenizer_params(wildcards):
    """What the job's script loads its tokenizer with: name, format and sha256 (tokenizer.py)."""
    return tokenizer_spec(config, wildcards.tokenizer)


def helpers(stage):
    """A param: {path: sha256} of the helper modules the stage's script `stage` (and its
    notebook) imports (unused_tokens/pipeline/modules.py), so that editing one of them reruns
    the stage (Snakemake's params trigger), and nothing keeps a list of them by hand. Read when
    a job of the stage is planned, once per stage: a cluster job's Snakemake reads its own.
    """
    return lambda wildcards: stage_helpers(stage)


@functools.cache
def stage_helpers(stage):
    sources = stage_sources(f"{workflow.basedir}/workflow", stage)
    return module_hashes(helper_modules(*sources))


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


def every_run(pattern, tokenizer=GPT2):
    """`pattern` (a path with {tokenizer}, {variant} and {seed}) for every run of the study with
    `tokenizer`, in order."""
    return [
        pattern.format(tokenizer=tokenizer, variant=variant, seed=seed)
        for variant, seed in STUDY.runs()
    ]


def runs_of(pattern):
    """An input function: `pattern` for every run with the job's tokenizer."""
    return lambda wildcards: every_run(pattern, wildcards.tokenizer)


def every_finetune(pattern):
    """`pattern` (a path with {arm} and {seed}) for every fine-tuning run, in order."""
    return [pattern.format(arm=arm, seed=seed) for arm in ARMS for seed in STUDY.seeds]


def finetune_params(wildcards):
    """The fine-tuning Run of a job's seed (the baseline's, with finetune.steps), as params."""
    return STUDY.finetune_run(wildcards.seed).as_params()


def instances(pattern):
    """`pattern` filled for every job of the study that has it: each book the study tokenizes
    (with each tokenizer: the first book; with GPT-2's, where fine-tuning is on, the second),
    each run (tokenizer, variant and seed), each fine-tuning run (arm and seed), each tokenizer
    and each added tokenizer's file."""
    if "{corpus}" in pattern and "{tokenizer}" in pattern:
        pairs = [("pretrain", name) for name in TOKENIZERS]
        pairs += [("finetune", GPT2)] if FINETUNE else []
        return [pattern.format(corpus=c, tokenizer=t) for c, t in pairs]
    if "{corpus}" in pattern:
        return [pattern.format(corpus=book) for book in CORPORA[: 1 + FINETUNE]]
    if "{arm}" in pattern:
        return every_finetune(pattern)
    if "{variant}" in pattern:
        return [path for name in TOKENIZERS for path in every_run(pattern, name)]
    if "{tokenizer}" in pattern:
        return [pattern.format(tokenizer=name) for name in TOKENIZERS]
    if "{added}" in pattern:
        return [pattern.format(added=name) for name in ADDED]
    return [pattern]


def benchmark_files(wildcards):
    """Every job's benchmark file but the report's own, for the report's table of
    durations."""
    files = []
    optional = {
        "finetune.smk": FINETUNE,
        "coverage.smk": COVERAGE["enabled"],
        "compare_tokenizers": bool(ADDED),
    }  # rule files and rules, where on
    for each in workflow.rules:
        rule_file = Path(str(each.snakefile)).name
        wanted = optional.get(rule_file, True) and optional.get(each.name, True)
        if each.benchmark and each.name != "report" and wanted:
            files += instances(strip_wildcard_constraints(each.benchmark))
    return list(dict.fromkeys(files))


REPORT_FIGURES = drawn(
    FINETUNE, len(STUDY.variants), len(TOKENIZERS), COVERAGE["enabled"]
)


def figure(name):
    """A PNG figure of the report, also shown in `snakemake --report` with its caption."""
    return report(
        f"{OUT}/report/figures/{name}.png",
        caption=f"../report/{name}.rst",
        category=FIGURES[name],
    )


def coverage_texts(wildcards):
    """Every book's downloaded text, in order."""
    return [rules.download_corpus.output.text.format(corpus=c) for c in BOOK_KEYS]
