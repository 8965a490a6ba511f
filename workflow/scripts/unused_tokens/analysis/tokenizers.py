"""The experiment across tokenizers: each tokenizer's runs described over seeds, and each
tokenizer's difference from GPT-2's.

Every tokenizer's study is the same design on the same book: the same seeds, variants, model and
training, each with its own vocabulary of V ids and its own three groups. `per_run` takes from
each run what the comparison needs: the untrained level -ln V, each group's masked mean on the
probe's batches untrained and trained (aggregate.endpoints), each group's change and the
never-used group's change minus the least common's (claims.run_measures), and how far random
draws of the groups' members alone move those two (draws.py). `describe_runs` gives
each (tokenizer, variant, quantity) over seeds with its 95% t interval (aggregate.describe).

A tokenizer's run and GPT-2's run of the same seed share nothing but the seed: the initial weights
have V rows each, and the windows are cut from other token sequences. So the difference from GPT-2
is not paired: `differences` gives Welch's unequal-variance t interval of the difference of the
two means (scipy.stats.ttest_ind).
"""

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..pipeline.names import GPT2, GROUP_NAMES
from .aggregate import LEVEL, describe

QUANTITIES = (  # per run, in the tables' order
    "minus_ln_v",
    *(f"{g}_untrained" for g in GROUP_NAMES),
    *(f"{g}_final" for g in GROUP_NAMES),
    *(f"change_{g}" for g in GROUP_NAMES),
    "fall_excess",
    "never_used_draw_sd",  # the spread over random draws of the groups (draws.py)
    "fall_excess_draw_sd",
)


def per_run(tokenizer, n_vocab, endpoints, measures):
    """Long rows (tokenizer, variant, seed, quantity, value) of one tokenizer's runs: QUANTITIES
    from its aggregate's endpoints and measures tables and its vocabulary's size `n_vocab`."""
    masked = endpoints[endpoints["quantity"].str.endswith("_masked")]
    last = masked.groupby(["variant", "seed"])["step"].transform("max")
    parts = []
    for step_rows, suffix in (
        (masked[masked["step"] == 0], "untrained"),
        (masked[masked["step"] == last], "final"),
    ):
        group = step_rows["quantity"].str.removesuffix("_masked")
        parts.append(
            step_rows.assign(quantity=group + f"_{suffix}")[
                ["variant", "seed", "quantity", "value"]
            ]
        )
    changes = [f"change_{g}" for g in GROUP_NAMES] + ["fall_excess", *QUANTITIES[-2:]]
    parts.append(
        measures.melt(id_vars=["variant", "seed"], value_vars=changes, var_name="quantity")
    )
    runs = measures[["variant", "seed"]].assign(quantity="minus_ln_v", value=-math.log(n_vocab))
    parts.append(runs)
    table = pd.concat(parts, ignore_index=True).assign(tokenizer=tokenizer)
    table = table[table["quantity"].isin(QUANTITIES)]
    order = table["quantity"].map({q: k for k, q in enumerate(QUANTITIES)})
    table = table.assign(_order=order).sort_values(["variant", "_order", "seed"], kind="stable")
    return table[["tokenizer", "variant", "seed", "quantity", "value"]].reset_index(drop=True)


def describe_runs(rows):
    """Each (tokenizer, variant, quantity) of `per_run` rows over seeds (aggregate.describe)."""
    return describe(rows, ["tokenizer", "variant", "quantity"])


def differences(rows, reference=GPT2):
    """Each tokenizer's mean minus `reference`'s, per variant and quantity, with Welch's 95% t
    interval (NaN where either side has fewer than two seeds); n_seeds is the smaller side's."""
    out = []
    mine = rows[rows["tokenizer"] == reference]
    for (tokenizer, variant, quantity), part in rows.groupby(
        ["tokenizer", "variant", "quantity"], sort=False
    ):
        if tokenizer == reference:
            continue
        theirs = mine.loc[(mine["variant"] == variant) & (mine["quantity"] == quantity), "value"]
        a, b = part["value"].to_numpy(), theirs.to_numpy()
        n, difference = min(len(a), len(b)), a.mean() - b.mean()
        if n < 2:
            low = high = np.nan
        elif a.std() == 0 and b.std() == 0:  # both sides constant (-ln V): the difference is exact
            low = high = difference
        else:
            low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(LEVEL)
        out.append((tokenizer, variant, quantity, n, difference, np.nan, low, high))
    columns = ["tokenizer", "variant", "quantity", "n_seeds", "mean", "std", "ci_low", "ci_high"]
    return pd.DataFrame(out, columns=columns)
