"""The report's figures, in one style, one colour per group (Okabe-Ito: safe for colour-blind
readers), each written as PNG and SVG.

report_outline.FIGURES names every figure and its section of the report.
"""

import base64
import html
import io
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..analysis.aggregate import describe
from ..analysis.finetune_results import QUANTITIES, scored
from ..pipeline.names import ARM_LABELS, ARMS, BASELINE_VARIANT, GROUP_LABELS, GROUP_NAMES
from .outline import FIGURES

GROUP_COLOURS = dict(zip(GROUP_NAMES, ("#0072B2", "#E69F00", "#D55E00"), strict=True))
ARM_COLOURS = dict(zip(ARMS, ("#CC79A7", "#009E73", "#56B4E9"), strict=True))
WIDTH = 8.0  # inches: every figure this wide (a legend outside it adds its own width)
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": "small",
    "axes.formatter.useoffset": False,  # -10.826, not "-1.08e1 + 0.001" beside the axis
}
CSS_DPI = 96  # CSS pixels per inch
SAME_LINE_NATS = 0.01  # masked and unmasked curves closer than this everywhere are drawn once
MIN_SPAN_NATS = 0.1  # an axis of log-probabilities spans at least this: no difference below it
SEED_LINE = {"linewidth": 0.6, "alpha": 0.35}  # one seed's curve, faint behind the mean
CAPTIONS = Path(__file__).resolve().parents[3] / "report"  # one caption per figure: <name>.rst


def caption(name):
    """The figure's caption (workflow/report/<name>.rst): `snakemake --report` shows it under
    the figure, and the HTML report gives it as the figure's alternative text."""
    return " ".join((CAPTIONS / f"{name}.rst").read_text().split())


def html_image(fig, alt):
    """`fig` as an HTML <img> with its PNG embedded and `alt` as its alternative text (the
    notebook's own image output would lose it: nbconvert's lab template drops alt text), shown
    at its size in inches, so that every figure's text reads at one size (a page narrower than
    the figure scales it down)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    png = buffer.getvalue()
    width = int.from_bytes(png[16:20], "big") * CSS_DPI / plt.rcParams["savefig.dpi"]
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
        f'style="width: {width:.0f}px; max-width: 100%">'
    )


def legend_outside(ax, below=False, **kwargs):
    """The legend to the right of the axes (or below them), where it cannot cover data."""
    if below:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, **kwargs)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, **kwargs)


def apply_style():
    """Use the report's matplotlib style for every figure that follows."""
    plt.rcParams.update(STYLE)


def save_figure(fig, directory, name):
    """Write `fig` as `name`.png and `name`.svg under `directory`; return the figure."""
    if name not in FIGURES:
        raise ValueError(f"{name!r} is not one of the report's figures {list(FIGURES)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "svg"):
        fig.savefig(directory / f"{name}.{suffix}")
    return fig


def embedded(fig, directory, name):
    """Save `fig` as the report's figure `name` (save_figure), close it, and return it as an
    HTML image whose alternative text is its caption: how the report shows every figure."""
    html_text = html_image(save_figure(fig, directory, name), caption(name))
    plt.close(fig)
    return html_text


def plot_rank_frequency(freq, groups):
    """Log-log rank-frequency curve of the tokens that occur, with the groups marked."""
    fig, ax = plt.subplots(figsize=(WIDTH, 4))
    used = freq[freq["count"] > 0].sort_values("rank")
    ax.loglog(used["rank"], used["count"], color="grey", linewidth=1, label="all tokens")
    by_id = freq.set_index("token_id")
    for g in ("most_common", "least_common"):
        ids = groups.loc[groups["group"] == g, "token_id"]
        ax.scatter(
            by_id.loc[ids, "rank"],
            by_id.loc[ids, "count"],
            s=12,
            zorder=3,
            color=GROUP_COLOURS[g],
            label=GROUP_LABELS[g],
        )
    n_never = int((freq["count"] == 0).sum())
    ax.set_xlabel("rank (1 = most frequent)")
    ax.set_ylabel("count in the book (tokens)")
    ax.set_title(
        f"Rank-frequency; {n_never:,} never-used ids have count 0 and are not on this axis"
    )
    legend_outside(ax)
    return fig


def plot_probe(probe_groups, vocab_size):
    """The untrained model's group means, masked (filled) and unmasked (open), against -ln V."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.5))
    probe = probe_groups.set_index("group").loc[list(GROUP_NAMES)]
    for i, g in enumerate(probe.index):
        colour = GROUP_COLOURS[g]
        ax.plot(i - 0.1, probe.loc[g, "masked_mean"], "o", color=colour, markersize=9)
        ax.plot(i + 0.1, probe.loc[g, "unmasked_mean"], "s", mfc="none", color=colour, markersize=9)
    ax.plot([], [], "o", color="grey", label="masked")
    ax.plot([], [], "s", mfc="none", color="grey", label="unmasked")
    ax.axhline(-math.log(vocab_size), color="black", linestyle=":", label="-ln V")
    ax.set_xticks(range(len(probe)), [GROUP_LABELS[g] for g in probe.index])
    ax.set_xlim(-0.5, len(probe) - 0.5)
    at_least_span(ax, -math.log(vocab_size))
    ax.set_xlabel("token group")
    ax.set_ylabel("mean log-softmax (nats)")
    ax.set_title("Untrained model: group means")
    legend_outside(ax)
    return fig


def plot_token_spread(probe_tokens, vocab_size):
    """Each group token's masked mean under the untrained model: the per-token spread."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.5))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, g in enumerate(GROUP_NAMES):
        values = probe_tokens.loc[probe_tokens["group"] == g, "masked_mean"].dropna()
        ax.scatter(
            i + rng.uniform(-0.25, 0.25, len(values)),
            values,
            s=8,
            alpha=0.7,
            color=GROUP_COLOURS[g],
        )
    ax.axhline(-math.log(vocab_size), color="black", linestyle=":", label="-ln V")
    ax.set_xticks(range(len(GROUP_NAMES)), [GROUP_LABELS[g] for g in GROUP_NAMES])
    ax.set_xlabel("token group")
    at_least_span(ax, -math.log(vocab_size))
    ax.set_ylabel("token's mean log-softmax (nats)")
    ax.set_title("Untrained model: one point per group token (masked)")
    legend_outside(ax)
    return fig


def at_least_span(ax, centre, span=MIN_SPAN_NATS):
    """Widen the y axis to at least `span` around `centre`, so that differences far below any
    meaningful resolution do not fill the figure."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, centre - span / 2), max(high, centre + span / 2))


def _seeds(ax, runs, quantity, colour, linestyle="-"):
    """Each seed's curve of `quantity` from `runs` (long rows: seed, step, quantity, value),
    faint, behind the mean: a spike in one seed reads as one seed."""
    if runs is None:
        return
    rows = runs[(runs["quantity"] == quantity) & runs["value"].notna()]
    for _, seed in rows.groupby("seed"):
        ax.plot(seed["step"], seed["value"], color=colour, linestyle=linestyle, **SEED_LINE)


def _band(ax, curve, colour, label, linestyle="-"):
    """A mean curve over seeds with its 95% interval shaded (no shade with one seed)."""
    ax.plot(curve["step"], curve["mean"], color=colour, linestyle=linestyle, label=label)
    if curve["ci_low"].notna().any():
        ax.fill_between(curve["step"], curve["ci_low"], curve["ci_high"], color=colour, alpha=0.2)


def plot_training(bands, entropy=None, plateau=None, runs=None):
    """Loss and each group's mean log-softmax per step, mean over seeds with a 95% band, each
    seed's own curve faint behind it.

    bands: one variant's aggregate.describe rows by step and quantity (step, quantity, mean,
    ci_low, ci_high); runs: its long rows per seed (seed, step, quantity, value), or None.
    Unmasked dashed; the held-out loss where it was scored; the unigram entropy and plateau
    marked.
    """
    curves = {q: part for q, part in bands.groupby("quantity")}
    fig, (ax_loss, ax_groups) = plt.subplots(1, 2, figsize=(WIDTH, 3.6))
    _seeds(ax_loss, runs, "loss", "black")
    _band(ax_loss, curves["loss"], "black", "training batches")
    held_out = curves["held_out_loss"].dropna(subset=["mean"])
    if len(held_out):
        _seeds(ax_loss, runs, "held_out_loss", "#CC79A7", "--")
        _band(ax_loss, held_out, "#CC79A7", "held-out slice", "--")
    if entropy is not None:
        ax_loss.axhline(
            entropy, color="grey", linestyle=":", label=f"unigram entropy {entropy:.2f}"
        )
    if plateau is not None:
        ax_loss.axvspan(
            plateau["first_step"],
            plateau["last_step"],
            color="grey",
            alpha=0.15,
            label="unigram plateau",
        )
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("loss (nats/token)")
    ax_loss.set_title("Loss")
    legend_outside(ax_loss, below=True)
    for g in GROUP_NAMES:
        colour, label = GROUP_COLOURS[g], GROUP_LABELS[g]
        masked, unmasked = curves[f"{g}_masked"], curves[f"{g}_unmasked"]
        gap = np.abs(masked["mean"].to_numpy() - unmasked["mean"].to_numpy()).max()
        _seeds(ax_groups, runs, f"{g}_masked", colour)
        if gap < SAME_LINE_NATS:  # one line hides the other: draw and label it once
            _band(
                ax_groups, masked, colour, f"{label} (masked {'=' if gap == 0 else '≈'} unmasked)"
            )
            continue
        _band(ax_groups, masked, colour, f"{label} (masked)")
        _band(ax_groups, unmasked, colour, f"{label} (unmasked)", "--")
    if runs is not None:
        ax_groups.plot([], [], color="grey", label="each seed (faint; masked)", **SEED_LINE)
    ax_groups.set_xlabel("optimizer step")
    ax_groups.set_ylabel("mean log-softmax (nats)")
    ax_groups.set_title("Token groups")
    legend_outside(ax_groups)
    fig.tight_layout()
    return fig


def plot_variants(summary):
    """Each variant's final masked group means, with their 95% intervals over seeds.

    summary: aggregate.summary rows (variant, quantity, mean, ci_low, ci_high).
    """
    variants = list(dict.fromkeys(summary["variant"]))
    fig, ax = plt.subplots(figsize=(WIDTH, 4))
    for j, g in enumerate(GROUP_NAMES):
        rows = summary[summary["quantity"] == f"{g}_masked"].set_index("variant").loc[variants]
        x = np.arange(len(variants)) + (j - 1) * 0.2
        errors = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
        ax.errorbar(
            x,
            rows["mean"],
            yerr=np.nan_to_num(errors),
            fmt="o",
            capsize=3,
            color=GROUP_COLOURS[g],
            label=GROUP_LABELS[g],
        )
    many = len(variants) > 4  # names side by side would overlap
    ax.set_xticks(
        range(len(variants)), variants, rotation=30 if many else 0, ha="right" if many else "center"
    )
    ax.set_xlim(-0.6, len(variants) - 0.4)
    ax.set_xlabel("variant")
    ax.set_ylabel("final mean log-softmax, masked (nats)")
    ax.set_title("Final group means per variant, 95% intervals over seeds")
    legend_outside(ax)
    return fig


def plot_variant_trajectories(bands):
    """Each variant's loss and masked group means per step against the baseline's, mean over
    seeds with 95% bands: one row per variant, the baseline in grey in every panel.

    bands: aggregate.describe rows by variant, quantity and step.
    """
    variants = [v for v in dict.fromkeys(bands["variant"]) if v != BASELINE_VARIANT]
    variants = variants or [BASELINE_VARIANT]  # nothing to compare: the baseline alone
    quantities = {"loss": ("black", "loss")} | {
        f"{g}_masked": (GROUP_COLOURS[g], GROUP_LABELS[g]) for g in GROUP_NAMES
    }
    curves = {key: part for key, part in bands.groupby(["variant", "quantity"], sort=False)}
    fig, axes = plt.subplots(
        len(variants), len(quantities), figsize=(WIDTH, 2.4 * len(variants)), squeeze=False
    )
    for row, variant in zip(axes, variants, strict=True):
        for ax, (quantity, (colour, label)) in zip(row, quantities.items(), strict=True):
            _band(ax, curves[(BASELINE_VARIANT, quantity)], "grey", BASELINE_VARIANT)
            _band(ax, curves[(variant, quantity)], colour, variant)
            ax.set_title(f"{variant}: {label}")
            ax.set_xlabel("optimizer step")
            ax.set_ylabel("nats")
    fig.suptitle(f"In every panel: the variant in colour, {BASELINE_VARIANT} in grey")
    fig.tight_layout()
    return fig


def plot_vocab(vocab_logprobs, freq, groups):
    """Every token's final mean log-softmax against its log-count; count 0 at a visible floor."""
    fig, ax = plt.subplots(figsize=(WIDTH, 4.5))
    counts = freq.set_index("token_id").loc[vocab_logprobs["token_id"], "count"].to_numpy()
    floor = -0.5
    x = np.where(counts > 0, np.log10(np.maximum(counts, 1)), floor)
    x = x + np.random.default_rng(0).uniform(-0.08, 0.08, len(x)) * (counts == 0)
    y = vocab_logprobs["trained_mean"].to_numpy()
    ax.scatter(x, y, s=2, color="lightgrey", label="all tokens", rasterized=True)
    position = {t: i for i, t in enumerate(vocab_logprobs["token_id"])}
    for g in GROUP_NAMES:
        idx = [position[t] for t in groups.loc[groups["group"] == g, "token_id"]]
        ax.scatter(x[idx], y[idx], s=10, color=GROUP_COLOURS[g], label=GROUP_LABELS[g], zorder=3)
    ax.axhline(-math.log(len(freq)), color="black", linestyle=":", label="-ln V")
    ticks = list(range(0, int(x.max()) + 1))
    ax.set_xticks([floor, *ticks], ["0", *[f"$10^{t}$" for t in ticks]])
    ax.set_xlabel("count in the book (log scale; never-used ids at 0)")
    ax.set_ylabel("final mean log-softmax (nats)")
    ax.set_title("Trained model: every token of the vocabulary")
    legend_outside(ax, markerscale=2)
    return fig


def plot_recovery(long, level):
    """The held-out loss on the new tokens (left) and on every other target (right) over
    fine-tuning steps, each arm's mean over seeds with its 95% band; the unigram level dashed on
    the left."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.6), sharex=True)
    curves = scored(long)
    for ax, quantity in zip(axes, QUANTITIES, strict=True):
        described = describe(curves[curves["quantity"] == quantity], ["arm", "step"])
        for arm in ARMS:
            d = described[described["arm"] == arm]
            ax.plot(d["step"], d["mean"], color=ARM_COLOURS[arm], label=ARM_LABELS[arm])
            ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=ARM_COLOURS[arm], alpha=0.2)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("held-out loss (nats)")
    axes[0].set_title("targets among the new tokens")
    axes[1].set_title("every other target")
    axes[0].axhline(level, color="grey", linestyle="--", label="unigram level")
    legend_outside(axes[1], handles=axes[0].get_legend_handles_labels()[0])
    return fig
