"""aggregate_weights rule: the geometry and the detector's scores of every run, over seeds."""

import pandas as pd

from unused_tokens.analysis.aggregate import describe, stacked
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage

with stage(snakemake) as log:
    i, o = snakemake.input, snakemake.output
    runs = [tuple(run) for run in snakemake.params.runs]

    def tables(paths):
        return {run: pd.read_parquet(path) for run, path in zip(runs, paths, strict=True)}

    geometry = stacked(tables(i.geometry), ["model", "bucket"])
    detection = stacked(tables(i.detection), ["method"])
    detection = detection[detection["quantity"].isin(["auc", "precision_at_k"])]
    geometry_summary = describe(geometry, ["variant", "model", "bucket", "quantity"])
    detection_summary = describe(detection, ["variant", "method", "quantity"])
    write_parquet(geometry_summary, o.geometry, schemas.GEOMETRY_SUMMARY)
    write_parquet(detection_summary, o.detection, schemas.DETECTION_SUMMARY)
    log.info("detection over seeds:\n%s", detection_summary.to_string(index=False))
