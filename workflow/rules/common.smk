OUT = f"results/{config['run_name']}"
LIB = f"{workflow.basedir}/workflow/scripts/unused_tokens"


def experiment_config():
    """The config without train.compile_cache: where kernels are cached changes no result."""
    train = {k: v for k, v in config["train"].items() if k != "compile_cache"}
    return {**config, "train": train}


def lib(*modules):
    """The helper modules a stage script imports: inputs, so that editing one reruns the stage."""
    return [f"{LIB}/{m}.py" for m in ("__init__", "errors", "files", "stage", *modules)]


FIGURES = {
    "rank_frequency": "Data",
    "untrained_probe": "Untrained model",
    "untrained_token_spread": "Untrained model",
    "training": "Training",
    "vocabulary_final": "Final model",
}
MEASURED_RULES = [
    "download_corpus",
    "download_tokenizer",
    "tokenize",
    "count_tokens",
    "select_groups",
    "probe_untrained",
    "train",
    "probe_vocab",
]


def figure(name):
    """A PNG figure of the report, also shown in `snakemake --report` with its caption."""
    return report(
        f"{OUT}/report/figures/{name}.png",
        caption=f"../report/{name}.rst",
        category=FIGURES[name],
    )
