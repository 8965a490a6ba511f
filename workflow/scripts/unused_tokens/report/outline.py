"""The report's outline: every figure by name, with the section it belongs to.

The report rule, `snakemake --report` and figures.py take the list from here; it is read while
the workflow is parsed, so this module imports nothing.
"""

FIGURES = {  # name: section
    "rank_frequency": "Data",
    "untrained_probe": "Untrained model",
    "untrained_token_spread": "Untrained model",
    "training": "Training",
    "variants": "Why, and what helps",
    "variant_trajectories": "Why, and what helps",
    "vocabulary_final": "Final model",
    "weights_norms": "Finding them from the weights",
    "weights_roc": "Finding them from the weights",
    "finetune_recovery": "Fine-tuning on a new book",
    "tokenizers": "Across tokenizers",
    "coverage": "Across tokenizers",
}
FINETUNE_SECTION = FIGURES["finetune_recovery"]  # its figures exist where finetune.enabled
VARIANTS_SECTION = FIGURES[
    "variants"
]  # its figures exist where a variant stands beside the baseline


def drawn(finetune, variants, tokenizers=1, coverage=False):
    """The names of the figures a study's report draws: `finetune` whether fine-tuning is on,
    `variants` how many variants the study has (the baseline included), `tokenizers` how many
    tokenizers (GPT-2's included), `coverage` whether the coverage study is on."""
    wanted = {
        FINETUNE_SECTION: finetune,
        VARIANTS_SECTION: variants > 1,
        "tokenizers": tokenizers > 1,
        "coverage": coverage,
    }
    return [
        name for name, section in FIGURES.items() if wanted.get(name, wanted.get(section, True))
    ]
