"""Tables, statements and figures of the report, computed from the pipeline's Parquet outputs.

`claims` turns each claim of the experiment into measured numbers, an explicit test and a
PASS/FAIL verdict, so the report states what the data show rather than what was expected.
Figures share one style and one colour per group (Okabe-Ito: safe for colour-blind readers).
"""

import hashlib
import importlib.metadata
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .schemas import GROUP_NAMES

GROUP_COLOURS = {"most_common": "#0072B2", "least_common": "#E69F00", "never_used": "#D55E00"}
GROUP_LABELS = {
    "most_common": "most common",
    "least_common": "least common",
    "never_used": "never used",
}
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
}
MOVED_NATS = 0.01  # a token "moved" if its mean log-probability changed by more than this
TOKEN_LIST_CSS = {"text-align": "left", "font-family": "monospace", "font-size": "80%"}


def apply_style():
    """Use the report's matplotlib style for every figure that follows."""
    plt.rcParams.update(STYLE)


def save_figure(fig, directory, name):
    """Write `fig` as `name`.png and `name`.svg under `directory`; return the figure."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "svg"):
        fig.savefig(directory / f"{name}.{suffix}")
    return fig


# --- numbers -----------------------------------------------------------------------------


def config_hash(config):
    """Short sha256 of the run's config, stable across key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def masking_effect(probe_groups):
    """One sentence: how much masking changes the untrained model's most common group."""
    common = probe_groups.set_index("group").loc["most_common"]
    diff = common["masked_mean"] - common["unmasked_mean"]
    if abs(diff) < 0.01:
        verdict = "the untrained model gives tokens it has just seen no head start"
    elif diff < 0:
        verdict = "the untrained model already favours tokens it has just seen"
    else:
        verdict = "the untrained model gives tokens it has just seen less probability"
    return (
        f"Masking leaves out {common['masked_out_fraction']:.1%} of the most common group's "
        f"(sample, token) pairs and changes its untrained mean by {diff:+.4f} nats: {verdict}."
    )


def unigram_plateau(training_log, entropy, window=25, tolerance=0.25):
    """The longest run of steps whose rolling-mean loss stays within `tolerance` nats of `entropy`.

    A model that has learnt token frequencies but no context scores exactly the unigram entropy,
    so such a run is the plateau where it predicts the unigram distribution. Returns a dict with
    first_step, last_step and mean_loss (of the smoothed loss over the run), or None.
    """
    smooth = training_log["loss"].rolling(window, center=True, min_periods=1).mean()
    near = ((smooth - entropy).abs() <= tolerance).to_numpy()
    best, start = None, None
    for i, inside in enumerate([*near, False]):
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best is None or best[1] - best[0] < window:
        return None
    steps = training_log["step"].to_numpy()
    return {
        "first_step": int(steps[best[0]]),
        "last_step": int(steps[best[1] - 1]),
        "mean_loss": float(smooth.iloc[best[0] : best[1]].mean()),
    }


def claims(probe_groups, training_log, vocab_logprobs, freq, tolerance=0.05):
    """One row per claim of the experiment: claim, measured, test, result (PASS or FAIL)."""
    uniform = -math.log(len(freq))
    probe = probe_groups.set_index("group")
    first, last = training_log.iloc[0], training_log.iloc[-1]
    change = {g: last[f"{g}_masked"] - first[f"{g}_masked"] for g in GROUP_NAMES}
    largest_gap = (probe["masked_mean"] - uniform).abs().max()
    copy_gain = last["most_common_unmasked"] - last["most_common_masked"]
    delta = (vocab_logprobs["trained_mean"] - vocab_logprobs["untrained_mean"]).to_numpy()
    moved = float(np.mean(np.abs(delta) > MOVED_NATS))
    unseen = delta[freq["count"].to_numpy() == 0]
    rows = [
        (
            "Untrained, every group sits at the uniform log-probability -ln V",
            f"largest |group mean - ({uniform:.3f})| = {largest_gap:.4f}",
            f"< {tolerance}",
            largest_gap < tolerance,
        ),
        (
            "Unmasked means flatter the common tokens: masking removes their in-context head start",
            f"final most common unmasked - masked = {copy_gain:+.3f}",
            "> 0",
            copy_gain > 0,
        ),
        (
            "Training raises the most common tokens",
            f"change of most common (masked) = {change['most_common']:+.3f}",
            "> 0",
            change["most_common"] > 0,
        ),
        (
            "Training lowers the least common tokens",
            f"change of least common (masked) = {change['least_common']:+.3f}",
            "< 0",
            change["least_common"] < 0,
        ),
        (
            "Never-used tokens fall the most",
            f"change of never used = {change['never_used']:+.3f}, "
            f"of least common = {change['least_common']:+.3f}",
            "never used < least common < 0",
            change["never_used"] < change["least_common"] < 0,
        ),
        (
            "After training: most common > least common > never used",
            ", ".join(f"{GROUP_LABELS[g]} {last[f'{g}_masked']:.2f}" for g in GROUP_NAMES),
            "strictly decreasing",
            last["most_common_masked"] > last["least_common_masked"] > last["never_used_masked"],
        ),
        (
            "Every token's probability moves, even tokens never seen",
            f"{moved:.2%} of all {len(delta):,} tokens moved by > {MOVED_NATS} nats; "
            f"largest change of the {len(unseen):,} never-seen tokens = {unseen.max():+.3f}",
            ">= 99% moved and every never-seen token fell (largest change < 0)",
            moved >= 0.99 and unseen.max() < 0,
        ),
    ]
    table = pd.DataFrame(rows, columns=["claim", "measured", "test", "passed"])
    table["result"] = table.pop("passed").map({True: "PASS", False: "FAIL"})
    return table


def durations(benchmarks):
    """Wall time and peak memory of each rule, from Snakemake's benchmark files."""
    rows = []
    for path in benchmarks:
        bench = pd.read_csv(path, sep="\t").iloc[0]
        rows.append((Path(path).stem, float(bench["s"]), float(bench["max_rss"])))
    return pd.DataFrame(rows, columns=["rule", "seconds", "peak memory (MB)"])


def group_tokens(groups):
    """Each group's tokens as one line of `text (count)` entries, in group order."""
    return pd.DataFrame(
        {
            "group": [GROUP_LABELS[g] for g in GROUP_NAMES],
            "tokens": [
                "  ".join(
                    f"{t!r} ({c})"
                    for t, c in groups.loc[
                        groups["group"] == g, ["token_text", "count"]
                    ].itertuples(index=False)
                )
                for g in GROUP_NAMES
            ],
        }
    )


# --- figures -----------------------------------------------------------------------------


def plot_rank_frequency(freq, groups):
    """Log-log rank-frequency curve of the tokens that occur, with the groups marked."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
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
    ax.legend()
    return fig


def plot_probe(probe_groups, vocab_size):
    """The untrained model's group means, masked (filled) and unmasked (open), against -ln V."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
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
    ax.set_ylabel("mean log-softmax (nats)")
    ax.set_title("Untrained model: group means")
    ax.legend(loc="lower right")
    return fig


def plot_token_spread(probe_tokens, vocab_size):
    """Each group token's masked mean under the untrained model: the per-token spread."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
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
    ax.set_ylabel("token's mean log-softmax (nats)")
    ax.set_title("Untrained model: one point per group token (masked)")
    ax.legend(loc="lower right")
    return fig


def plot_training(training_log, entropy=None, plateau=None):
    """Loss and each group's mean log-softmax per step; unmasked dashed; unigram plateau marked."""
    fig, (ax_loss, ax_groups) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(training_log["step"], training_log["loss"], color="black", label="loss")
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
    ax_loss.set_ylabel("training loss (nats/token)")
    ax_loss.set_title("Loss")
    ax_loss.legend()
    for g in GROUP_NAMES:
        colour = GROUP_COLOURS[g]
        ax_groups.plot(
            training_log["step"],
            training_log[f"{g}_masked"],
            color=colour,
            label=f"{GROUP_LABELS[g]} (masked)",
        )
        ax_groups.plot(
            training_log["step"],
            training_log[f"{g}_unmasked"],
            color=colour,
            linestyle="--",
            label=f"{GROUP_LABELS[g]} (unmasked)",
        )
    ax_groups.set_xlabel("optimizer step")
    ax_groups.set_ylabel("mean log-softmax (nats)")
    ax_groups.set_title("Token groups")
    ax_groups.legend()
    fig.tight_layout()
    return fig


def plot_vocab(vocab_logprobs, freq, groups):
    """Every token's final mean log-softmax against its log-count; count 0 at a visible floor."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
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
    ax.legend(loc="lower right", markerscale=2)
    return fig


# --- tables ------------------------------------------------------------------------------

PACKAGES = (
    "torch",
    "tiktoken",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "papermill",
    "nbconvert",
)


def run_facts(run_name, config, training_facts):
    """What identifies the run: config hash, seeds, model, training, device, precision, torch."""
    model, train = config["model"], config["train"]
    seeds = ("model", "groups", "probe", "train")
    return pd.Series(
        {
            "run": run_name,
            "config hash": config_hash(config),
            "seeds (model, groups, probe, train)": ", ".join(str(config[k]["seed"]) for k in seeds),
            "model": ", ".join(
                f"{k}={model[k]}" for k in ("n_layer", "n_head", "n_embd", "context")
            ),
            "training": f"{train['steps']} steps, batch {train['batch_size']}, lr {train['lr']}",
            "device": training_facts.get("device", "unknown"),
            "precision": training_facts.get("precision", "unknown"),
            "torch": training_facts.get("torch_version", "unknown"),
        },
        name="",
    ).to_frame()


def package_versions():
    """Installed versions of the packages the results depend on."""
    return pd.DataFrame(
        {"package": PACKAGES, "version": [importlib.metadata.version(p) for p in PACKAGES]}
    )


def styled_claims(table):
    """The claims table for display: PASS in green, FAIL in red, text left-aligned."""
    colour = {
        "PASS": "color: #006400; font-weight: bold",
        "FAIL": "color: #b00000; font-weight: bold",
    }
    return (
        table.style.hide(axis="index")
        .map(colour.get, subset=["result"])
        .set_properties(subset=["claim", "measured"], **{"text-align": "left"})
    )
