"""Whether a claim's verdict survives a rerun: the stability check of docs/results.md.

The same study is rerun with a disjoint seed set and in fp32; each counted claim's result in
each rerun is set side by side (`stability`), and a claim whose result changes is fragile. The
side-by-side table is written once, as tab-separated text with a note of where it came from
(`write_stability`, by benchmarks/stability.py), and committed; the report reads it
(`read_stability`) and marks each claim it covered (`mark_stability`).
"""

import io
from pathlib import Path

import pandas as pd

from .claims import TESTED


def stability(tables):
    """Each counted claim's result in each of `tables` ({label: claims table}, the same study
    rerun with another seed set or precision), side by side, and its verdict: the result all of
    them give, else "fragile" (a claim missing from a table counts as a different result)."""
    results = {}
    for label, table in tables.items():
        counted = table[table["family"].isin(TESTED)]
        for row in counted.itertuples():
            results.setdefault((row.variant, row.claim), {})[label] = row.result
    rows = [{"variant": v, "claim": c, **found} for (v, c), found in results.items()]
    side = pd.DataFrame(rows, columns=["variant", "claim", *tables])
    agreed = side[list(tables)].nunique(axis=1, dropna=False) == 1
    return side.assign(verdict=side[list(tables)[0]].where(agreed, "fragile"))


def write_stability(table, path, note):
    """Write a `stability` table as tab-separated text at `path`, `note` (the studies, machine
    and date it came from) its first line, as a comment: the report reads it (read_stability)."""
    body = table.to_csv(sep="\t", index=False, lineterminator="\n")
    Path(path).write_text(f"# {note}\n{body}", encoding="utf-8")


def read_stability(path):
    """(note, table) of a file write_stability wrote; an empty table where it holds no claims
    (the check not yet run)."""
    text = Path(path).read_text(encoding="utf-8")
    note = text.splitlines()[0].removeprefix("# ") if text.startswith("# ") else ""
    table = pd.read_csv(io.StringIO(text), sep="\t", comment="#", dtype=str, keep_default_na=False)
    return note, table


def mark_stability(table, verdicts):
    """The claims `table` with a column "rerun": for each claim the stability check covered
    (`verdicts`, read_stability's table, matched by variant and claim), "fragile" where its
    result changed across the reruns, else "stable"; empty where it was not checked."""
    found = {
        (row["variant"], row["claim"]): "fragile" if row["verdict"] == "fragile" else "stable"
        for row in verdicts.to_dict("records")
    }
    keys = zip(table["variant"], table["claim"], strict=True)
    return table.assign(rerun=[found.get(key, "") for key in keys])


def stability_sentence(note, verdicts):
    """What the report says of the stability check: how many of the claims it covered are
    fragile and where it came from (`note`), or that none has been recorded."""
    if verdicts.empty:
        return (
            "No stability check is recorded (config/stability_verdicts.tsv): no verdict below "
            "has yet been shown to survive a rerun with other seeds or in fp32."
        )
    fragile = int((verdicts["verdict"] == "fragile").sum())
    return (
        f"The stability check ({note}) reran the quick study with a disjoint seed set and in "
        f"fp32: {fragile} of the {len(verdicts)} counted claims it covered changed verdict and "
        'are fragile. The "rerun" column marks each claim it covered; a blank one was not '
        "covered, and a check at one model size does not vouch for another."
    )
