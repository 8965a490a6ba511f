"""The Parquet schema of every table the pipeline writes: one place for writers and tests."""

import pyarrow as pa

from .names import FINETUNE_GROUP_NAMES, GROUP_NAMES, MAGIKARP_INDICATORS


def tokens(id_type):
    """tokens.parquet's: one column of ids of `id_type` (numpy's uint16 or uint32)."""
    return pa.schema([("token_id", pa.from_numpy_dtype(id_type))])


FREQUENCY = pa.schema(
    [
        ("token_id", pa.int32()),
        ("count", pa.int64()),
        ("rank", pa.int32()),
        ("share", pa.float64()),
        ("token_text", pa.string()),
    ]
)

FREQUENCY_SUMMARY = pa.schema(
    [
        ("total_tokens", pa.int64()),
        ("distinct_tokens", pa.int64()),
        ("n_vocab", pa.int64()),
        ("coverage", pa.float64()),
    ]
)

COVERAGE_BOOKS = pa.schema(  # coverage.per_book: one row per book, in the listed order
    [
        ("book", pa.string()),
        ("tokens", pa.int64()),
        ("distinct_ids", pa.int64()),
        ("vocabulary_share", pa.float64()),
    ]
)
COVERAGE_GROWTH = pa.schema(  # coverage.cumulative of each order (0: the listed one)
    [
        ("order", pa.int32()),
        ("books", pa.int32()),
        ("added", pa.string()),
        ("tokens", pa.int64()),
        ("distinct_ids", pa.int64()),
        ("vocabulary_share", pa.float64()),
    ]
)
COVERAGE_HEAPS = pa.schema(  # coverage.heaps_over_orders: Heaps' law fitted in each order
    [("order", pa.int32()), ("heaps_k", pa.float64()), ("heaps_beta", pa.float64())]
    + [("tokens", pa.int64()), ("share_at_end", pa.float64()), ("fit_share_at_end", pa.float64())]
    # NaN where the fit does not support the extrapolation (coverage.supported_sizes)
    + [(f"tokens_for_{p}_percent", pa.float64()) for p in (50, 90)]
)

GROUPS = pa.schema(
    [
        ("group", pa.string()),
        ("position", pa.int32()),
        ("token_id", pa.int32()),
        ("count", pa.int64()),
        ("rank", pa.int32()),
        ("token_text", pa.string()),
    ]
)

FINETUNE_GROUPS = pa.schema(  # every group of both books, with its counts in each
    [
        ("group", pa.string()),
        ("position", pa.int32()),
        ("token_id", pa.int32()),
        ("pretrain_count", pa.int64()),
        ("finetune_count", pa.int64()),
        ("token_text", pa.string()),
    ]
)

PROBE_GROUPS = pa.schema(
    [
        ("group", pa.string()),
        ("masked_mean", pa.float64()),
        ("unmasked_mean", pa.float64()),
        ("masked_out_fraction", pa.float64()),
        ("uniform_log_prob", pa.float64()),
    ]
)

PROBE_TOKENS = pa.schema(
    [
        ("group", pa.string()),
        ("token_id", pa.int32()),
        ("masked_mean", pa.float64()),
        ("unmasked_mean", pa.float64()),
        ("masked_out_fraction", pa.float64()),
    ]
)

MASKING_CONTROL = pa.schema(  # the trained model and a context-free unigram predictor
    [
        ("group", pa.string()),
        ("predictor", pa.string()),  # "trained" or "unigram"
        ("masked_mean", pa.float64()),
        ("unmasked_mean", pa.float64()),
        ("masked_out_fraction", pa.float64()),
        ("within_token_copying", pa.float64()),  # probe.within_token_copying
    ]
)

TRAINING_LOG = pa.schema(  # held_out_*: NaN at the steps where the slice is not scored
    [("step", pa.int32()), ("loss", pa.float64())]
    + [(f"{g}_{kind}", pa.float64()) for g in GROUP_NAMES for kind in ("masked", "unmasked")]
    # the held-out loss over every target, over targets never in the training text, the rest
    + [(f"held_out_{k}", pa.float64()) for k in ("loss", "unseen_loss", "seen_loss")]
)
LOG_ROW = TRAINING_LOG.names[1:]  # one step's values: step.TrainStep's, then held_out.HeldOut's
LOSSES = tuple(n for n in LOG_ROW if n.endswith("loss"))  # the batch's, then the held-out ones

FINETUNE_LOG = pa.schema(  # the loss split by whether the target is a new token
    [("step", pa.int32()), ("loss", pa.float64()), ("new_loss", pa.float64())]
    + [("other_loss", pa.float64())]
    + [(f"{g}_{k}", pa.float64()) for g in FINETUNE_GROUP_NAMES for k in ("masked", "unmasked")]
    + [(f"held_out_{k}", pa.float64()) for k in ("loss", "new_loss", "other_loss")]
)
FINETUNE_ROW = FINETUNE_LOG.names[1:]

FINETUNE_STEPS = pa.schema(  # every arm's fine-tuning log in one long table
    [
        ("arm", pa.string()),
        ("seed", pa.int32()),
        ("step", pa.int32()),
        ("quantity", pa.string()),
        ("value", pa.float64()),
    ]
)

VOCAB_LOGPROBS = pa.schema(  # probe.VocabMeans of the untrained and the trained model, per id
    [("token_id", pa.int32())]
    + [
        (f"{model}_{kind}", pa.float64())
        for kind in ("mean", "logit", "within_corpus")  # within_corpus: renormalised, count > 0
        for model in ("untrained", "trained")
    ]
)

STEPS = pa.schema(  # every run's training log in one long table
    [
        ("variant", pa.string()),
        ("seed", pa.int32()),
        ("step", pa.int32()),
        ("quantity", pa.string()),
        ("value", pa.float64()),
    ]
)

DESCRIBED = [  # the columns aggregate.describe adds to its keys: n_seeds, mean, std, 95% bounds
    ("n_seeds", pa.int32()),
    *[(name, pa.float64()) for name in ("mean", "std", "ci_low", "ci_high")],
]


def described(*keys):
    """The schema of an aggregate.describe table grouped by `keys` (name, type pairs)."""
    return pa.schema([*keys, *DESCRIBED])


SUMMARY = described(  # a quantity's final value over a variant's seeds
    ("variant", pa.string()),
    ("quantity", pa.string()),
)
DIFFERENCES = SUMMARY  # the same for (variant - baseline) at each seed

TOKENIZER_FACTS = pa.schema(  # one row per tokenizer of the study: its vocabulary and the book
    [
        ("tokenizer", pa.string()),
        ("encoding", pa.string()),
        ("n_vocab", pa.int64()),
        ("tokens", pa.int64()),
        ("distinct_ids", pa.int64()),
        ("vocabulary_share", pa.float64()),
    ]
)
TOKENIZER_SUMMARY = described(  # analysis/tokenizers.py: a quantity of a tokenizer's variant
    ("tokenizer", pa.string()),  # over seeds; or its difference from GPT-2's (Welch)
    ("variant", pa.string()),
    ("quantity", pa.string()),
)

MEASURES = (  # what claims.run_measures gives for one run, in this order
    "untrained_gap",
    "copying",  # within tokens (probe.within_token_copying), the most common group
    "copying_gaps",  # the cross-check: trained minus unigram unmasked-minus-masked gap
    *(f"change_{g}" for g in GROUP_NAMES),
    "fall_excess",
    "most_minus_least",
    "least_minus_never",
    "never_used_log_prob_change",
    "never_used_logit_change",
    "logsumexp_change",
)
TARGET_MEASURES = (  # claims.target_measures: the least common members that were targets
    "least_common_targeted",  # how many
    "change_least_common_targeted",  # their mean change of log-probability
    "targeted_minus_never",  # their trained level minus the never-used group's
)
DRAW_MEASURES = (  # draws.draw_spread: the spread over random draws of the groups' members
    "least_common_draw_sd",
    "never_used_draw_sd",
    "fall_excess_draw_sd",
)
RUN_MEASURES = pa.schema(  # one row per run: its claims' measures, what training saw, draws
    [("variant", pa.string()), ("seed", pa.int32())]
    + [(m, pa.float64()) for m in MEASURES + TARGET_MEASURES + DRAW_MEASURES]
)

CLAIMS = pa.schema(  # claims.py: p_adjusted is NaN where there is no test (one seed, N/A)
    [(name, pa.string()) for name in ("variant", "family", "claim", "measured", "test", "result")]
    + [("p_adjusted", pa.float64())]
)

FINETUNE_AT_STEPS = described(  # an arm's loss on new and other targets at a report step
    ("arm", pa.string()),
    ("quantity", pa.string()),
    ("step", pa.int32()),
)

FINETUNE_REACH = pa.schema(  # the step at which the new tokens' loss reaches the unigram level
    [("arm", pa.string()), ("seed", pa.int32()), ("steps_to_level", pa.float64())]
)

WEIGHT_FEATURES = pa.schema(  # one row per model id: what the weights say about it
    [("token_id", pa.int32()), ("count", pa.int64())]
    + [
        (f"{feature}_{model}", pa.float64())
        for model in ("untrained", "trained")
        for feature in ("input_norm", "output_norm", "never_cosine")
    ]
    + [("moved_cosine", pa.float64()), ("final_log_prob", pa.float64())]
    + [(name, pa.float64()) for name in MAGIKARP_INDICATORS]  # NaN for the reference ids
)

GEOMETRY = pa.schema(  # the rows of each count bucket, before and after training
    [
        ("model", pa.string()),
        ("bucket", pa.string()),
        ("tokens", pa.int64()),
        ("mean_norm", pa.float64()),
        ("moved_cosine", pa.float64()),
        ("pairwise_cosine", pa.float64()),
        ("first_component_share", pa.float64()),
        ("displacement_norm", pa.float64()),  # trained only: weights.displacement
        ("displacement_cosine", pa.float64()),
        ("displacement_spread", pa.float64()),
    ]
)

DETECTION = pa.schema(  # each method scored against the truth (count 0)
    [
        ("method", pa.string()),
        ("auc", pa.float64()),
        ("precision_at_k", pa.float64()),
        ("k", pa.int64()),
        ("scored", pa.int64()),
    ]
)

GEOMETRY_SUMMARY = described(  # a geometry quantity of a variant described over seeds
    ("variant", pa.string()),
    ("model", pa.string()),
    ("bucket", pa.string()),
    ("quantity", pa.string()),
)

DETECTION_SUMMARY = described(  # a method's AUC or precision at k for a variant, over seeds
    ("variant", pa.string()),
    ("method", pa.string()),
    ("quantity", pa.string()),
)
