"""The Parquet schema of every table the pipeline writes: one place for writers and tests."""

import pyarrow as pa

GROUP_NAMES = ("most_common", "least_common", "never_used")

TOKENS = pa.schema([("token_id", pa.uint16())])

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

TRAINING_LOG = pa.schema(
    [("step", pa.int32()), ("loss", pa.float64())]
    + [(f"{g}_{kind}", pa.float64()) for g in GROUP_NAMES for kind in ("masked", "unmasked")]
)

VOCAB_LOGPROBS = pa.schema(
    [
        ("token_id", pa.int32()),
        ("untrained_mean", pa.float64()),
        ("trained_mean", pa.float64()),
    ]
)
