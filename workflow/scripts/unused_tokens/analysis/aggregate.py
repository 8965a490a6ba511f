"""Every run of a study in one table, and what the seeds say together.

`stacked` puts every run's table into one long table of (run, keys, quantity, value) rows (the
training logs, the fine-tuning logs, the weights' tables), `long_log` the training logs, and
`endpoints` gives such rows for each run's first and last step, its group means taken on the
probe's batches (what the summaries use; the training log's are one training batch each).
`describe` gives, for any grouping of such rows, the number of seeds, the mean, the standard
deviation (n - 1) and the 95% Student-t interval of the mean: mean ± t(0.975, n - 1) · sd / √n.
With one seed there is no interval: its bounds are NaN. `summary` describes each variant's final
values; `changes` how far training moved them from step 0; `paired_differences` each variant's
final values minus the baseline's at the same seed, so that what the seeds share (the
initialisation, the windows) cancels.

A test that a measure lies above (or below) a bound is a one-sided t-test over seeds
(`one_sided_p`); a family of such tests is corrected by Holm's step-down method (`holm`), and a
test passes when its adjusted p-value is below ALPHA = (1 - LEVEL) / 2: for a family of one test,
exactly when the 95% interval lies on its side of the bound. Seeds vary the initialisation and
the training windows; the probe's batches and the groups' draw are fixed, so the intervals say
nothing about other probe samples or other draws.
"""

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..pipeline import schemas
from ..pipeline.names import BASELINE_VARIANT

LEVEL = 0.95
ALPHA = (1 - LEVEL) / 2  # one-sided: a family of one test passes as its 95% interval does


def stacked(tables, keys, run=("variant", "seed")):
    """{run: table} (a run: its values of the columns `run`) in one long table: the columns
    `run`, `keys`, quantity and value, every column of a table but `keys` a quantity."""
    parts = [
        table.melt(id_vars=keys, var_name="quantity", value_name="value").assign(
            **dict(zip(run, key, strict=True))
        )
        for key, table in tables.items()
    ]
    return pd.concat(parts, ignore_index=True)[[*run, *keys, "quantity", "value"]]


def mean_of_tables(paths, by):
    """The Parquet tables of `paths` (one per run) averaged row by row, rows matched by the
    columns `by`, in their first table's order."""
    tables = pd.concat([pd.read_parquet(path) for path in paths])
    return tables.groupby(by, sort=False).mean(numeric_only=True).reset_index()


def long_log(logs):
    """schemas.STEPS rows of {(variant, seed): training log}."""
    return stacked(logs, ["step"])


def endpoints(long, probes, controls):
    """The (variant, seed, step, quantity, value) rows of each run's first and last step that
    the summaries compare: the group means measured on the probe's batches, the same for every
    run (step 0: the untrained probe's group table; the last step: the masking control's
    "trained" rows; `probes` and `controls` keyed like the logs of `long`), and the training
    log's loss (its first and last batch) and held-out losses (scored at both steps: over every
    target, and over those never and those seen in the training text)."""
    last = long.groupby(["variant", "seed"])["step"].transform("max")
    losses = long["quantity"].isin(schemas.LOSSES)
    ends = long[((long["step"] == 0) | (long["step"] == last)) & losses]
    parts = [ends]
    final = ends.groupby(["variant", "seed"])["step"].max()
    for (variant, seed), probe in probes.items():
        trained = controls[(variant, seed)]
        trained = trained[trained["predictor"] == "trained"]
        for step, table in ((0, probe), (int(final[(variant, seed)]), trained)):
            rows = table.melt(
                id_vars="group", value_vars=["masked_mean", "unmasked_mean"], value_name="value"
            )
            quantity = rows["group"] + "_" + rows["variable"].str.removesuffix("_mean")
            parts.append(
                pd.DataFrame(
                    {
                        "variant": variant,
                        "seed": seed,
                        "step": step,
                        "quantity": quantity,
                        "value": rows["value"],
                    }
                )
            )
    table = pd.concat(parts, ignore_index=True)[schemas.STEPS.names]
    return table.sort_values(["variant", "seed", "step"], kind="stable", ignore_index=True)


def describe(values, by):
    """n_seeds, mean, std and the 95% t interval of `values`'s `value` column, grouped `by`."""
    grouped = values.groupby(by, sort=False)["value"]
    table = grouped.agg(n_seeds="count", mean="mean", std="std").reset_index()
    n = table["n_seeds"].to_numpy()
    t = stats.t.ppf((1 + LEVEL) / 2, np.maximum(n - 1, 1))
    half = np.where(n > 1, t * table["std"] / np.sqrt(n), np.nan)
    return table.assign(ci_low=table["mean"] - half, ci_high=table["mean"] + half)


def text_table(described, index, column, labels, interval, order):
    """`describe` rows as a table of text: `index` x `column`, each cell shown by `interval` (a
    row to text); rows in `order`, columns the keys of `labels`, renamed to its values."""
    shown = described.assign(value=described.apply(interval, axis=1))
    table = shown.pivot(index=index, columns=column, values="value")
    return pd.DataFrame(table.reindex(order)[list(labels)]).rename(columns=labels)


def decimals(row):
    """The decimals a `describe` row's value supports: its interval's half-width to two
    significant digits (1 to 4 decimals); 3 where there is no interval (one seed)."""
    half = (row["ci_high"] - row["ci_low"]) / 2
    if not half > 0:  # NaN (one seed), or seeds that agree exactly
        return 3
    return int(min(4, max(1, 1 - math.floor(math.log10(half) + 1e-9))))  # 1e-9: 0.01 is 0.0099…


def mean_or_nan(values):
    """The mean of the values that are not NaN (ids a model does not cover), NaN if none."""
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else np.nan


def interval(row, digits=None, signed=False, say_one_seed=False):
    """A `describe` row as "mean [low, high]", rounded to what its interval supports (decimals)
    unless `digits` is given; the mean alone where there is no interval (one seed), followed by
    "(one seed: no interval)" if `say_one_seed`; "n/a" where there is no value (a group the
    variant's model does not have). Every number the report, the claims and the docs' tables
    write goes through here."""
    if math.isnan(row["mean"]):
        return "n/a"
    f = f"{'+' if signed else ''}.{decimals(row) if digits is None else digits}f"
    if math.isnan(row["ci_low"]):
        return format(row["mean"], f) + (" (one seed: no interval)" if say_one_seed else "")
    return f"{row['mean']:{f}} [{row['ci_low']:{f}}, {row['ci_high']:{f}}]"


def bounds(row):
    """(low, high) of a `describe` row: its 95% interval, or its mean twice where there is no
    interval (one seed)."""
    if np.isnan(row["ci_low"]):
        return row["mean"], row["mean"]
    return row["ci_low"], row["ci_high"]


def one_sided_p(row, bound, above):
    """The p-value of a one-sided t-test over seeds that the mean of a `describe` row lies above
    `bound` (or below it, `above` False); NaN with fewer than two seeds. Seeds that all agree
    (sd 0) have no t statistic: they get the exact sign test's p-value, 0.5 ** n where every seed
    lies on the claimed side of the bound (0.125 for three seeds), 1 elsewhere, never 0."""
    n, mean, sd = row["n_seeds"], row["mean"], row["std"]
    if n < 2 or np.isnan(mean):
        return np.nan
    side = mean - bound if above else bound - mean
    if sd == 0:
        return sign_test_p(int(n), int(n) if side > 0 else 0)
    return float(stats.t.sf(side / (sd / np.sqrt(n)), n - 1))


def sign_test_p(n, beyond):
    """The exact one-sided sign test's p-value: the chance that at least `beyond` of `n` seeds
    fall on the claimed side where each falls on either side with probability one half."""
    return float(stats.binom.sf(beyond - 1, n, 0.5))


def holm(p_values):
    """Holm's step-down adjustment of a family of p-values (NaN ones left out and kept NaN): the
    k-th smallest of m is multiplied by m - k + 1, and adjusted values never decrease in that
    order; capped at 1."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return adjusted


def final_values(long):
    """The rows of each run's last step."""
    last = long.groupby(["variant", "seed"])["step"].transform("max")
    return long[long["step"] == last]


def summary(long):
    """For each variant and quantity: its final value described over seeds."""
    return describe(final_values(long), ["variant", "quantity"])


def changes(long):
    """For each variant and quantity: the final value minus the run's value at step 0 (before
    any update), described over seeds: how far training moved it."""
    first = long[long["step"] == 0].set_index(["variant", "seed", "quantity"])["value"]
    final = final_values(long).set_index(["variant", "seed", "quantity"])["value"]
    moved = (final - first.reindex(final.index)).rename("value").reset_index()
    return describe(moved, ["variant", "quantity"])


def paired_differences(long, baseline=BASELINE_VARIANT):
    """For each variant but `baseline` and each quantity: the final value minus the baseline's
    final value at the same seed, described over the seeds both have."""
    final = final_values(long)
    reference = final.loc[final["variant"] == baseline, ["seed", "quantity", "value"]]
    pairs = final[final["variant"] != baseline].merge(
        reference, on=["seed", "quantity"], suffixes=("", "_baseline")
    )
    return describe(
        pairs.assign(value=pairs["value"] - pairs["value_baseline"]), ["variant", "quantity"]
    )


def headline(study, runs, summary, differences, claims):
    """The study's headline figures and every claim's verdict as plain data, for a JSON file
    that scripts can collect across studies; a missing interval is null."""

    def described(table):
        return {
            variant: {
                row.quantity: {
                    "n_seeds": int(row.n_seeds),
                    **{k: _number(getattr(row, k)) for k in ("mean", "ci_low", "ci_high")},
                }
                for row in part.itertuples()
            }
            for variant, part in table.groupby("variant", sort=False)
        }

    return {
        "study": study,
        "variants": list(dict.fromkeys(variant for variant, _ in runs)),
        "seeds": sorted({seed for _, seed in runs}),
        "confidence_level": LEVEL,
        "final": described(summary),
        "difference_from_baseline": described(differences),
        "claims": {
            variant: dict(zip(part["claim"], part["result"], strict=True))
            for variant, part in claims.groupby("variant", sort=False)
        },
    }


def _number(value):
    return None if np.isnan(value) else float(value)
