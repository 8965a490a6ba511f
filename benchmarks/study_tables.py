"""Markdown tables of a finished study's numbers, as docs/results.md gives them.

    .venv/bin/python benchmarks/study_tables.py results/experiments_smoke

Reads the study's Parquet outputs and prints, through the report's own functions: each
variant's final values, its differences from the baseline and its changes from its own start;
the never-used ids' normaliser split and the output rows' displacements; the remedies like for
like; the detectors' ROC AUCs; the claims' tally; and, where the study fine-tuned, each arm's
held-out losses at the report steps, its steps to the unigram level and the claims. Every value
is the mean over seeds with its 95% t interval.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow" / "scripts"))

from unused_tokens.analysis import claims, finetune_results  # noqa: E402
from unused_tokens.analysis.aggregate import changes  # noqa: E402
from unused_tokens.analysis.aggregate import interval as interval_of  # noqa: E402
from unused_tokens.pipeline.names import GROUP_LABELS, GROUP_NAMES  # noqa: E402
from unused_tokens.report import mechanism, remedies, weights_section  # noqa: E402
from unused_tokens.report.text import variant_table  # noqa: E402

COLUMNS = {f"{g}_masked": GROUP_LABELS[g] for g in GROUP_NAMES} | {
    "loss": "loss (last batch)",
    "held_out_loss": "held-out loss",
}


def markdown(table, index_name):
    """A DataFrame of text as a Markdown table, its index first (in backticks)."""
    header = [index_name, *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for key, row in table.iterrows():
        name = " ".join(map(str, key)) if isinstance(key, tuple) else f"`{key}`"
        lines.append("| " + " | ".join([name, *map(str, row)]) + " |")
    return "\n".join(lines)


def interval(row, digits=2, signed=False):
    """The report's interval text, with the two decimals the docs give."""
    return interval_of(row, digits, signed)


def by_variant(described, order, signed):
    """Variant x quantity (those of COLUMNS it has), in the study's `order` of variants."""
    return variant_table(described, COLUMNS, order, digits=2, signed=signed)


def section(title, text):
    print(f"\n#### {title}\n\n{text}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="results/<study>")
    study = parser.parse_args(argv).study
    aggregate = study / "aggregate" / "gpt2"
    measures = pd.read_parquet(aggregate / "measures.parquet")
    order = list(dict.fromkeys(measures["variant"]))  # the runs' order
    final = pd.read_parquet(aggregate / "summary.parquet")
    section("Final values", markdown(by_variant(final, order, signed=False), "variant"))
    differences = pd.read_parquet(aggregate / "differences.parquet")
    if len(differences):
        section("Minus the baseline", markdown(by_variant(differences, order, True), "variant"))
    moved = changes(pd.read_parquet(aggregate / "endpoints.parquet"))
    section("Change from the own start", markdown(by_variant(moved, order, True), "variant"))
    signed = lambda row: interval(row, signed=True)  # noqa: E731
    section("Normaliser split", markdown(mechanism.normaliser_table(measures, signed), "variant"))
    geometry = pd.read_parquet(aggregate / "geometry.parquet")
    three = lambda row: interval(row, digits=3)  # noqa: E731
    section(
        "Displacements", markdown(mechanism.displacement_table(geometry, three), "variant, rows")
    )
    groups = pd.read_parquet(study / "data" / "groups" / "gpt2.parquet")
    vocab = {
        (path.parts[-4], int(path.parts[-3].removeprefix("seed"))): pd.read_parquet(path)
        for path in sorted(study.glob("runs/gpt2/*/seed*/probe/vocab_logprobs.parquet"))
    }
    vocab = dict(sorted(vocab.items(), key=lambda item: (order.index(item[0][0]), item[0][1])))
    if vocab:
        table = markdown(remedies.like_for_like(vocab, groups, signed), "variant")
    else:  # a copy without the per-token tables (gpu_studies.sh leaves them on the device)
        table = "no runs/gpt2/*/seed*/probe/vocab_logprobs.parquet here: see the report"
    section("Like for like", table)
    detection = pd.read_parquet(aggregate / "detection.parquet")
    section("ROC AUC", markdown(weights_section.auc_table(detection, three), "variant"))
    claim_table = pd.read_parquet(aggregate / "claims.parquet")
    section("Claims", claims.tally(claim_table))
    tuned = study / "finetune"
    if not tuned.is_dir():
        return
    at = pd.read_parquet(tuned / "at_steps.parquet")
    at = at.assign(value=at.apply(interval, axis=1, digits=3))
    table = at.pivot(index=["quantity", "arm"], columns="step", values="value")
    section("Fine-tuning: held-out loss after K steps", markdown(table, "quantity, arm"))
    reach = finetune_results.reach_summary(pd.read_parquet(tuned / "reach.parquet"))
    reach = reach.assign(steps=reach.apply(interval, axis=1, digits=0)).set_index("arm")
    section("Fine-tuning: steps to the unigram level", markdown(reach[["reached", "steps"]], "arm"))
    tune_claims = pd.read_parquet(tuned / "claims.parquet")
    lines = [f"- {r.result}: {r.claim}; {r.measured}" for r in tune_claims.itertuples()]
    section("Fine-tuning: claims", "\n".join(lines))


if __name__ == "__main__":
    main()
