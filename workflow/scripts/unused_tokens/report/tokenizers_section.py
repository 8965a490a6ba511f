"""The report's section "Across tokenizers": the experiment's baseline with each of the study's
tokenizers (analysis/tokenizers.py computes what it shows) and how much of each vocabulary the
books use (data/coverage.py), each a figure first and then one computed sentence per finding."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.aggregate import bounds, interval
from ..data.coverage import MISFIT_TOLERANCE
from ..pipeline.names import BASELINE_VARIANT, GPT2, GROUP_LABELS, GROUP_NAMES
from .figures import GROUP_COLOURS, WIDTH, legend_outside

TOKENIZER_COLOURS = ("#000000", "#009E73", "#CC79A7", "#56B4E9", "#F0E442")  # in study order


def _rows(summary, variant=BASELINE_VARIANT):
    return summary[summary["variant"] == variant].set_index(["tokenizer", "quantity"])


def plot_tokenizers(summary, facts):
    """Each tokenizer's baseline, trained: the three groups' mean log-probability (mean over
    seeds with its 95% interval), beside the untrained level -ln V (a black bar)."""
    rows, names = _rows(summary), list(facts["tokenizer"])
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    offsets = np.linspace(-0.2, 0.2, len(GROUP_NAMES))
    for x, name in enumerate(names):
        level = rows.loc[(name, "minus_ln_v"), "mean"]
        ax.hlines(level, x - 0.32, x + 0.32, color="black", linewidth=1.5,
                  label="untrained level, -ln V" if x == 0 else None)  # fmt: skip
        for offset, group in zip(offsets, GROUP_NAMES, strict=True):
            row = rows.loc[(name, f"{group}_final")]
            low, high = _half_widths(row)
            ax.errorbar(x + offset, row["mean"], yerr=[[low], [high]], fmt="o", capsize=3,
                        color=GROUP_COLOURS[group],
                        label=f"{GROUP_LABELS[group]}, trained" if x == 0 else None)  # fmt: skip
    labels = [f"{n}\n{v:,} ids" for n, v in zip(names, facts["n_vocab"], strict=True)]
    ax.set_xticks(range(len(names)), labels)
    ax.set_xlabel("tokenizer, and its vocabulary's size V")
    ax.set_ylabel("mean log-probability (nats)")
    ax.set_title("The baseline with each tokenizer: each group, trained, against -ln V")
    legend_outside(ax)
    return fig


def _half_widths(row):
    """The error bar's lengths below and above the mean: none where there is no interval."""
    low, high = bounds(row)
    return row["mean"] - low, high - row["mean"]


def tokenizer_facts_table(facts):
    """The tokenizers (each as its files named it when loaded: non-standard files say so) and how
    much of each one's vocabulary the book's training text uses."""
    return pd.DataFrame(
        {
            "tokenizer": facts["tokenizer"],
            "loaded as": facts["encoding"],
            "ids": facts["n_vocab"].map("{:,}".format),
            "tokens of the book": facts["tokens"].map("{:,}".format),
            "ids used": facts["distinct_ids"].map("{:,}".format),
            "share used": facts["vocabulary_share"].map("{:.1%}".format),
        }
    ).set_index("tokenizer")


def tokenizer_findings(summary, differences, facts):
    """One sentence per tokenizer: where its baseline's groups end and how far the never-used
    group fell, in all and beyond the least common group's fall, with the spread of each over
    seeds beside the spread over random draws of the groups' members; then one sentence per
    tokenizer but GPT-2's on how that fall differs from GPT-2's (Welch's interval, which holds
    the seeds' spread and not the draws'), whichever way it falls."""
    rows, sentences = _rows(summary), []
    for name, n_vocab in zip(facts["tokenizer"], facts["n_vocab"], strict=True):
        part = {q: rows.loc[(name, q)] for q in ("change_never_used", "fall_excess")}
        finals = ", ".join(
            f"{GROUP_LABELS[g]} {interval(rows.loc[(name, f'{g}_final')])}" for g in GROUP_NAMES
        )
        sentences.append(
            f"With {name} ({n_vocab:,} ids, -ln V = {-math.log(n_vocab):.3f}), the trained groups "
            f"end at {finals} nats; the never-used group changed by "
            f"{interval(part['change_never_used'], signed=True)} nats, "
            f"{interval(part['fall_excess'], signed=True)} beyond the least common group's change."
            + _draws(rows, name)
        )
    mine = differences[differences["variant"] == BASELINE_VARIANT].set_index(
        ["tokenizer", "quantity"]
    )
    for name in facts["tokenizer"]:
        if name == GPT2:
            continue
        for quantity, what in (
            ("change_never_used", "the never-used group's change"),
            ("fall_excess", "its change beyond the least common group's"),
        ):
            d = mine.loc[(name, quantity)]
            sentences.append(
                f"{name} minus GPT-2, {what}: {interval(d, signed=True)} nats, Welch's 95% "
                f"interval (the runs are not paired); {_side(d)}."
            )
    return sentences


def _draws(rows, name):
    """The spread over seeds beside the spread over random draws of the groups, in words."""
    if (name, "fall_excess_draw_sd") not in rows.index:
        return ""
    seeds = [rows.loc[(name, q), "std"] for q in ("change_never_used", "fall_excess")]
    draws = [rows.loc[(name, f"{q}_draw_sd"), "mean"] for q in ("never_used", "fall_excess")]
    return (
        f" Their standard deviations over seeds are {seeds[0]:.2f} and {seeds[1]:.2f} nats; "
        f"over random draws of the groups' members in the same runs, {draws[0]:.2f} and "
        f"{draws[1]:.2f} (no interval here includes the draws' spread)."
    )


def _side(row):
    """Which way a difference's interval falls: above 0, below 0, or across it."""
    if math.isnan(row["ci_low"]):
        return "too few seeds for an interval"
    if row["ci_low"] > 0:
        return "it lies above 0"
    if row["ci_high"] < 0:
        return "it lies below 0"
    return "it includes 0: no difference shown"


def plot_coverage(growth):
    """Share of each vocabulary used against tokens read, as the books are added: the listed
    order (line) and the random orders (faint), one colour per tokenizer ({name: growth table})."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    for colour, (name, table) in zip(TOKENIZER_COLOURS, growth.items(), strict=False):
        for _, order in table[table["order"] > 0].groupby("order"):
            ax.plot(order["tokens"], order["vocabulary_share"], color=colour, linewidth=0.6,
                    alpha=0.25)  # fmt: skip
        listed = table[table["order"] == 0]
        ax.plot(listed["tokens"], listed["vocabulary_share"], color=colour, marker="o",
                label=f"{name}, listed order")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("tokens read (the books one after another)")
    ax.set_ylabel("share of the vocabulary used")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_title("How much of each vocabulary the books use (faint: random orders)")
    legend_outside(ax)
    return fig


def coverage_findings(growth, heaps):
    """One sentence on what all the books use of each vocabulary, and one per tokenizer on its
    Heaps' law fit, its misfit at the books' end and what it extrapolates where the data
    support it (labelled as such); {name: table} each."""
    used = []
    for name, table in growth.items():
        whole = table[table["order"] == 0].iloc[-1]
        used.append(f"{whole['vocabulary_share']:.1%} of {name}'s ids ({whole['tokens']:,} tokens)")
    books = int(next(iter(growth.values()))["books"].max())
    sentences = [f"All {books} books together use " + "; ".join(used) + "."]
    for name, fits in heaps.items():
        listed, others = fits[fits["order"] == 0].iloc[0], fits[fits["order"] > 0]
        spread = (
            f" ({others['heaps_beta'].min():.3f} to {others['heaps_beta'].max():.3f} over "
            f"{len(others)} random orders)"
            if len(others)
            else ""
        )
        sentences.append(
            f"{name}: Heaps' law gives β = {listed['heaps_beta']:.3f}{spread}; at the books' "
            f"end the fit gives {listed['fit_share_at_end']:.1%} of the ids where "
            f"{listed['share_at_end']:.1%} are used, {_extrapolated(listed)}."
        )
    return sentences


def _extrapolated(fit):
    """What a Heaps fit (a heaps_over_orders row) extrapolates, or why it does not."""
    off = fit["fit_share_at_end"] / fit["share_at_end"] - 1
    if abs(off) > MISFIT_TOLERANCE:
        return (
            f"{abs(off):.0%} {'over' if off > 0 else 'under'}: too far off to extrapolate "
            f"from (more than {MISFIT_TOLERANCE:.0%}), so no text size is given for 50% or 90%"
        )
    sizes = [
        f"{p}% would take {fit[f'tokens_for_{p}_percent'] / 1e6:.2g} million tokens"
        for p in (50, 90)
        if not math.isnan(fit[f"tokens_for_{p}_percent"])
    ]
    if not sizes:
        return f"within {MISFIT_TOLERANCE:.0%}; the books already use more than 90%"
    return f"within {MISFIT_TOLERANCE:.0%}; extrapolated beyond the books, " + " and ".join(sizes)


def per_book_table(books):
    """Each book alone ({tokenizer: coverage books table}): its tokens and the share of each
    vocabulary it uses, books in the listed order and tokenizers in the study's."""
    columns = {}
    for name, table in books.items():
        columns[(name, "tokens")] = table["tokens"].map("{:,}".format).to_numpy()
        columns[(name, "share used")] = table["vocabulary_share"].map("{:.1%}".format).to_numpy()
    first = next(iter(books.values()))
    return pd.DataFrame(columns, index=pd.Index(first["book"], name="book"))
