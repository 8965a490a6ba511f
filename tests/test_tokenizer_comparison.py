"""The experiment across tokenizers: the rows taken from each run, their description over seeds,
Welch's difference from GPT-2, and the report's sentences about them."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from unused_tokens.analysis import tokenizers
from unused_tokens.pipeline.names import GROUP_NAMES
from unused_tokens.report import tokenizers_section

matplotlib.use("Agg")


def endpoints(seeds, untrained, trained, last=10):
    """aggregate.endpoints-like rows: each group's masked and unmasked means at steps 0 and
    `last` (the unmasked ones never used), and the loss."""
    rows = []
    for seed in seeds:
        for step, level in ((0, untrained), (last, trained)):
            for k, g in enumerate(GROUP_NAMES):
                value = level - k + 0.1 * seed
                rows += [("baseline", seed, step, f"{g}_masked", value)]
                rows += [("baseline", seed, step, f"{g}_unmasked", 99.0)]
            rows += [("baseline", seed, step, "loss", 5.0)]
    return pd.DataFrame(rows, columns=["variant", "seed", "step", "quantity", "value"])


def measures(seeds, fall):
    rows = []
    for seed in seeds:
        change = {f"change_{g}": -k * fall - 0.1 * seed**2 for k, g in enumerate(GROUP_NAMES)}
        draws = {
            "never_used_draw_sd": 0.1 * fall + 0.01 * seed,
            "fall_excess_draw_sd": 0.05 + 0.01 * seed * fall,
        }
        rows.append(
            {
                "variant": "baseline",
                "seed": seed,
                **change,
                "fall_excess": -fall - 0.5 * seed,
                **draws,
            }
        )
    return pd.DataFrame(rows)


def test_each_run_gives_the_level_each_group_untrained_and_trained_and_the_falls():
    rows = tokenizers.per_run("tok", 1000, endpoints([0, 1], -7.0, -9.0), measures([0, 1], 2.0))
    assert rows.columns.tolist() == ["tokenizer", "variant", "seed", "quantity", "value"]
    assert (rows["tokenizer"] == "tok").all()
    assert list(dict.fromkeys(rows["quantity"])) == list(tokenizers.QUANTITIES)
    value = rows.set_index(["seed", "quantity"])["value"]
    assert value[(1, "minus_ln_v")] == -math.log(1000)
    assert value[(1, "least_common_untrained")] == pytest.approx(-7.0 - 1 + 0.1)
    assert value[(0, "never_used_final")] == pytest.approx(-9.0 - 2)
    assert value[(1, "change_never_used")] == pytest.approx(-4.0 - 0.1)
    assert value[(1, "fall_excess")] == pytest.approx(-2.5)
    assert value[(1, "fall_excess_draw_sd")] == pytest.approx(0.07)


def two_tokenizers():
    a = tokenizers.per_run("gpt2", 50257, endpoints([0, 1, 2], -10.8, -12), measures([0, 1, 2], 2))
    b = tokenizers.per_run("big", 100277, endpoints([0, 1, 2], -11.5, -13), measures([0, 1, 2], 3))
    return pd.concat([a, b], ignore_index=True)


def test_differences_from_gpt2_take_welchs_interval():
    rows = two_tokenizers()
    table = tokenizers.differences(rows).set_index(["tokenizer", "quantity"])
    assert set(table.index.get_level_values(0)) == {"big"}
    d = table.loc[("big", "change_never_used")]
    a = np.array([-6.0, -6.1, -6.4])  # big: -2 * 3 - 0.1 seed^2
    b = np.array([-4.0, -4.1, -4.4])  # gpt2: -2 * 2 - 0.1 seed^2
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    from scipy import stats

    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (d["mean"], d["ci_low"], d["ci_high"]) == pytest.approx((-2.0, -2 - half, -2 + half))
    assert d["n_seeds"] == 3
    level = table.loc[("big", "minus_ln_v")]  # the same for every seed: exact
    assert level["ci_low"] == level["ci_high"] == pytest.approx(math.log(50257 / 100277))


def test_with_one_seed_there_is_no_interval():
    a = tokenizers.per_run("gpt2", 50257, endpoints([0], -10.8, -12), measures([0], 2))
    b = tokenizers.per_run("big", 100277, endpoints([0], -11.5, -13), measures([0], 3))
    table = tokenizers.differences(pd.concat([a, b], ignore_index=True))
    assert table["ci_low"].isna().all() and (table["n_seeds"] == 1).all()


def test_the_sentences_say_where_each_interval_falls_whichever_way():
    rows = two_tokenizers()
    summary = tokenizers.describe_runs(rows)
    facts = pd.DataFrame({"tokenizer": ["gpt2", "big"], "n_vocab": [50257, 100277]})
    differences = tokenizers.differences(rows)
    found = tokenizers_section.tokenizer_findings(summary, differences, facts)
    assert len(found) == 4  # one per tokenizer, two differences for the second
    assert found[0].startswith("With gpt2 (50,257 ids, -ln V = -10.825), the trained groups end")
    assert "changed by -4.17 [-4.68, -3.65] nats, -2.5 [-3.7, -1.3] beyond the least" in found[0]
    seeds = np.std([-4.0, -4.1, -4.4], ddof=1), np.std([-2.0, -2.5, -3.0], ddof=1)
    assert found[0].endswith(
        f"Their standard deviations over seeds are {seeds[0]:.2f} and {seeds[1]:.2f} nats; over "
        "random draws of the groups' members in the same runs, 0.21 and 0.07 (no interval here "
        "includes the draws' spread)."
    )
    assert found[2].startswith("big minus GPT-2, the never-used group's change: -2")
    assert found[2].endswith(
        "nats, Welch's 95% interval (the runs are not paired); it lies below 0."
    )
    flipped = differences.assign(
        mean=-differences["mean"], ci_low=-differences["ci_high"], ci_high=-differences["ci_low"]
    )
    again = tokenizers_section.tokenizer_findings(summary, flipped, facts)
    assert again[2].endswith("; it lies above 0.")
    across = differences.assign(ci_low=-1.0, ci_high=1.0)
    found = tokenizers_section.tokenizer_findings(summary, across, facts)
    assert found[2].endswith("; it includes 0: no difference shown.")
    fig = tokenizers_section.plot_tokenizers(summary, facts)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "gpt2\n50,257 ids",
        "big\n100,277 ids",
    ]


def test_the_coverage_sentences_give_each_vocabularys_share_and_fit():
    growth = {
        "gpt2": pd.DataFrame(
            {
                "order": [0, 0, 1, 1],
                "books": [1, 2, 1, 2],
                "added": ["a", "b", "b", "a"],
                "tokens": [100, 250, 150, 250],
                "distinct_ids": [10, 20, 12, 20],
                "vocabulary_share": [0.1, 0.2, 0.12, 0.2],
            }
        )
    }

    def fits(fit_share, for_50, for_90):
        return pd.DataFrame(
            {
                "order": [0, 1],
                "heaps_k": [2.0, 2.1],
                "heaps_beta": [0.55, 0.6],
                "tokens": [250, 250],
                "share_at_end": [0.2, 0.2],
                "fit_share_at_end": [fit_share, 0.2],
                "tokens_for_50_percent": [for_50, 9e5],
                "tokens_for_90_percent": [for_90, 2.5e6],
            }
        )

    found = tokenizers_section.coverage_findings(growth, {"gpt2": fits(0.205, 8.3e5, 2.4e6)})
    assert found == [
        "All 2 books together use 20.0% of gpt2's ids (250 tokens).",
        "gpt2: Heaps' law gives β = 0.550 (0.600 to 0.600 over 1 random orders); at the books' "
        "end the fit gives 20.5% of the ids where 20.0% are used, within 5%; extrapolated "
        "beyond the books, 50% would take 0.83 million tokens and 90% would take 2.4 million "
        "tokens.",
    ]
    off = tokenizers_section.coverage_findings(growth, {"gpt2": fits(0.246, math.nan, math.nan)})
    assert off[1].endswith(
        "the fit gives 24.6% of the ids where 20.0% are used, 23% over: too far off to "
        "extrapolate from (more than 5%), so no text size is given for 50% or 90%."
    )
    assert len(tokenizers_section.plot_coverage(growth).axes[0].lines) == 2


def test_the_facts_table_names_each_vocabulary_as_loaded_and_its_use():
    facts = pd.DataFrame(
        {
            "tokenizer": ["gpt2", "mistral_v1"],
            "encoding": ["gpt2", "non-standard mistral_v1 (sha256 0123456789ab)"],
            "n_vocab": [50257, 32000],
            "tokens": [129325, 135005],
            "distinct_ids": [9416, 7695],
            "vocabulary_share": [9416 / 50257, 7695 / 32000],
        }
    )
    table = tokenizers_section.tokenizer_facts_table(facts)
    assert table.loc["mistral_v1"].tolist() == [
        "non-standard mistral_v1 (sha256 0123456789ab)",
        "32,000",
        "135,005",
        "7,695",
        "24.0%",
    ]


def test_the_per_book_table_keeps_the_books_and_tokenizers_in_order():
    def books(tokens, share):
        return pd.DataFrame(
            {
                "book": ["Zed", "Alpha"],
                "tokens": tokens,
                "distinct_ids": [1, 2],
                "vocabulary_share": share,
            }
        )

    table = tokenizers_section.per_book_table(
        {
            "gpt2": books([143695, 44525], [0.19472, 0.0749]),
            "big": books([139190, 1], [0.1006, 0.5]),
        }
    )
    assert table.index.tolist() == ["Zed", "Alpha"]
    assert table.columns.tolist() == [
        ("gpt2", "tokens"),
        ("gpt2", "share used"),
        ("big", "tokens"),
        ("big", "share used"),
    ]
    assert table.loc["Zed"].tolist() == ["143,695", "19.5%", "139,190", "10.1%"]
