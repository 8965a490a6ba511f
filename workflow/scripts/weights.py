"""weights rule: one run's per-token features, geometry by count bucket, and the detector of
never-used tokens scored against the truth (unused_tokens/analysis/weights.py, detection.py)."""

import pandas as pd

from unused_tokens.analysis import detection, weights
from unused_tokens.model.gpt import load_model
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage
from unused_tokens.training.run_context import run_context

with stage(snakemake) as log:
    i, o, detector = snakemake.input, snakemake.output, snakemake.params.detector
    context = run_context(snakemake, log, probe=True)
    trained, untrained = load_model(i.model), context.untrained_model()
    ids, counts = context.vocabulary.ids, context.counts
    final = pd.read_parquet(i.vocab).set_index("token_id").loc[ids, "trained_mean"].to_numpy()
    reference = detection.reference_ids(counts, detector["reference_size"], detector["seed"])
    table = weights.features(trained, untrained, ids, counts, final, reference)
    write_parquet(table, o.features, schemas.WEIGHT_FEATURES, context.metadata())
    write_parquet(weights.geometry(trained, untrained, counts), o.geometry, schemas.GEOMETRY)
    found = detection.detection(table)
    write_parquet(found, o.detection, schemas.DETECTION, context.metadata())
    log.info("detection against the truth:\n%s", found.to_string(index=False))
