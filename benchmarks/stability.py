"""The stability check of docs/results.md: every counted claim's verdict in the same study rerun
with another seed set and in fp32, side by side; a claim whose verdict changes is fragile.

    .venv/bin/python benchmarks/stability.py results/stability results/stability_b \
        results/stability_fp32 results/stability_b_fp32

Reads each study's claims (aggregate/gpt2/claims.parquet, and finetune/claims.parquet where it
fine-tuned) and prints one Markdown table (a column per study, then the verdict) and a line
counting the fragile claims; then the baseline's measures (MEASURES) in each study, mean [95%
interval] over its seeds, one Markdown table. With --write (config/stability_verdicts.tsv, which
the report reads to mark each claim stable or fragile), the verdicts are written there too, with
the studies, this machine's CPU and today's date as their note.
"""

import argparse
import datetime
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow" / "scripts"))

from unused_tokens.analysis.aggregate import describe, interval  # noqa: E402
from unused_tokens.analysis.stability import stability, write_stability  # noqa: E402
from unused_tokens.pipeline.plan import host_cpu  # noqa: E402

TABLES = ("aggregate/gpt2/claims.parquet", "finetune/claims.parquet")
MEASURES = (  # the baseline's measures set side by side (aggregate/gpt2/measures.parquet)
    "change_most_common",
    "change_least_common",
    "change_never_used",
    "fall_excess",
    "never_used_logit_change",
    "logsumexp_change",
    "copying",
    "least_common_targeted",
    "targeted_minus_never",
)


def study_claims(folder):
    """Every claims table of the finished study in `folder`, in one table."""
    found = [folder / path for path in TABLES if (folder / path).exists()]
    if not found:
        sys.exit(f"{folder}: no {TABLES[0]}; run the study first")
    return pd.concat([pd.read_parquet(path) for path in found], ignore_index=True)


def measures_table(folders):
    """The baseline's MEASURES in each study of `folders`, described over its seeds: Markdown
    rows, a column per study."""
    columns = {}
    for folder in folders:
        runs = pd.read_parquet(folder / "aggregate/gpt2/measures.parquet")
        runs = runs[runs["variant"] == "baseline"]
        long = runs.melt(
            id_vars=["variant", "seed"], value_vars=list(MEASURES), var_name="quantity"
        )
        described = describe(long, ["quantity"]).set_index("quantity")
        columns[f"{folder.name} ({len(runs)} seeds)"] = {
            q: interval(described.loc[q], signed=True) for q in MEASURES
        }
    lines = ["| measure | " + " | ".join(columns) + " |", "|" + " --- |" * (len(columns) + 1)]
    for q in MEASURES:
        lines.append(f"| `{q}` | " + " | ".join(column[q] for column in columns.values()) + " |")
    return lines


def markdown(table):
    """A DataFrame as Markdown rows, empty cells for missing values."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", type=Path, help="results/<study> folders")
    parser.add_argument("--write", type=Path, help="also write the table here, with a note")
    args = parser.parse_args(argv)
    table = stability({folder.name: study_claims(folder) for folder in args.studies})
    if args.write:
        studies = ", ".join(folder.name for folder in args.studies)
        note = f"studies {studies}; {host_cpu()}; {datetime.date.today().isoformat()}"
        write_stability(table, args.write, note)
    print("\n".join(markdown(table)))
    fragile = int((table["verdict"] == "fragile").sum())
    print(f"\n{fragile} of {len(table)} counted claims are fragile\n")
    print("\n".join(measures_table(args.studies)))


if __name__ == "__main__":
    main()
