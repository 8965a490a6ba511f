"""The report's figures: every axis labelled, saved as PNG and SVG under a known name."""

import html
import io
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_aggregate import LOGS
from test_claims import COUNTS, V, probe, vocab
from test_tokenizer_comparison import two_tokenizers

from unused_tokens.analysis import aggregate, tokenizers
from unused_tokens.analysis.detection import COUNT_BUCKETS
from unused_tokens.pipeline.names import ARMS, GROUP_NAMES, MAGIKARP_INDICATORS
from unused_tokens.report import figures, outline, tokenizers_section, weights_section

figures.apply_style()  # as the report does before its first figure


@pytest.fixture(autouse=True)
def close_figures():
    """Each test's figures are closed after it, as the report closes each after showing it."""
    yield
    plt.close("all")


def freq():
    return pd.DataFrame({"token_id": np.arange(V), "count": COUNTS, "rank": np.arange(1, V + 1)})


GROUPS = pd.DataFrame(
    {
        "group": ["most_common"] * 2 + ["least_common"] * 2 + ["never_used"] * 2,
        "token_id": [0, 1, 598, 599, 700, 800],
    }
)


def norms():
    """A geometry summary: the mean norm of each bucket before and after training."""
    rows = [
        ("baseline", model, bucket, "mean_norm", 3, 1.0 + i / 10, 0.9 + i / 10, 1.1 + i / 10)
        for model in ("untrained", "trained")
        for i, bucket in enumerate(COUNT_BUCKETS)
    ]
    columns = ["variant", "model", "bucket", "quantity", "n_seeds", "mean", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns)


def scored():
    """A features table: 20 ids, the first 8 never used, every score a little informative."""
    rng = np.random.default_rng(0)
    unused = np.arange(20) < 8
    return pd.DataFrame(
        {
            "count": np.where(unused, 0, 5),
            **{name: unused + rng.normal(0, 0.5, 20) for name in MAGIKARP_INDICATORS},
            "output_norm_trained": 1 - 0.2 * unused + rng.normal(0, 0.3, 20),
            "final_log_prob": -10 - unused + rng.normal(0, 1, 20),
        }
    )


def tuned():
    """A fine-tuning long table: three arms, two seeds, four steps."""
    rows = [
        (arm, seed, step, quantity, 10.0 - step - i + seed / 10)
        for i, arm in enumerate(ARMS)
        for seed in (0, 1)
        for step in range(4)
        for quantity in ("held_out_new_loss", "held_out_other_loss")
    ]
    return pd.DataFrame(rows, columns=["arm", "seed", "step", "quantity", "value"])


def every_figure():
    long = aggregate.long_log(LOGS)
    bands = aggregate.describe(long[long["variant"] == "baseline"], ["quantity", "step"])
    return {
        "rank_frequency": figures.plot_rank_frequency(freq(), GROUPS),
        "untrained_probe": figures.plot_probe(probe(), V),
        "untrained_token_spread": figures.plot_token_spread(
            probe().assign(token_id=[0, 598, 700]), V
        ),
        "training": figures.plot_training(
            bands,
            6.2,
            {"first_step": 0, "last_step": 1, "mean_loss": 6.1},
            long[long["variant"] == "baseline"],
        ),
        "variants": figures.plot_variants(aggregate.summary(long)),
        "variant_trajectories": figures.plot_variant_trajectories(
            aggregate.describe(long, ["variant", "quantity", "step"])
        ),
        "vocabulary_final": figures.plot_vocab(vocab(), freq(), GROUPS),
        "weights_norms": weights_section.plot_norms(norms(), "baseline"),
        "weights_roc": weights_section.plot_roc(scored()),
        "finetune_recovery": figures.plot_recovery(tuned(), 7.0),
        "tokenizers": tokenizers_section.plot_tokenizers(
            tokenizers.describe_runs(two_tokenizers()),
            pd.DataFrame({"tokenizer": ["gpt2", "big"], "n_vocab": [50257, 100277]}),
        ),
        "coverage": tokenizers_section.plot_coverage({"gpt2": growth(), "big": growth(0.5)}),
    }


def growth(scale=1.0):
    """A coverage growth table: the listed order and one random order of two books."""
    return pd.DataFrame(
        {
            "order": [0, 0, 1, 1],
            "books": [1, 2, 1, 2],
            "tokens": [100, 250, 150, 250],
            "vocabulary_share": [scale * v for v in (0.1, 0.2, 0.12, 0.2)],
        }
    )


def test_every_figure_of_the_report_has_labelled_axes():
    drawn = every_figure()
    assert list(drawn) == list(figures.FIGURES)
    for name, fig in drawn.items():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel(), name


def test_the_training_figure_shades_a_band_only_where_there_are_seeds():
    fig = every_figure()["training"]
    bands = [c for c in fig.axes[1].collections if c.get_label().startswith("_")]
    # four seeds each; in LOGS each group's masked and unmasked means coincide: one line each
    means = [line for line in fig.axes[1].get_lines() if line.get_alpha() is None]
    assert len(bands) == len(means) == 3


def test_the_trajectories_compare_each_variant_with_the_baseline_in_every_panel():
    fig = every_figure()["variant_trajectories"]
    assert len(fig.axes) == 4  # one variant (wide): loss and three groups
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["baseline", "wide"]
        assert ax.get_title().startswith("wide: ")


def test_figures_are_saved_as_png_and_svg_under_their_names(tmp_path):
    fig = every_figure()["variants"]
    figures.save_figure(fig, tmp_path, "variants")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["variants.png", "variants.svg"]
    assert (tmp_path / "variants.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="'rank' is not one of the report's figures"):
        figures.save_figure(fig, tmp_path, "rank")


def test_a_shown_figure_is_saved_closed_and_embedded_with_its_caption_as_alt_text(tmp_path):
    fig = every_figure()["variants"]
    shown = figures.embedded(fig, tmp_path, "variants")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["variants.png", "variants.svg"]
    assert shown.startswith('<img src="data:image/png;base64,')
    assert f' alt="{html.escape(figures.caption("variants"), quote=True)}" style=' in shown
    assert not plt.fignum_exists(fig.number)


def test_every_figure_has_its_caption_for_snakemake_report_and_alt_text():
    captions = Path(__file__).resolve().parent.parent / "workflow" / "report"
    for name in figures.FIGURES:
        text = (captions / f"{name}.rst").read_text()
        assert text.strip() and figures.caption(name) == " ".join(text.split()), name


def test_no_legend_covers_data_and_no_axis_has_an_offset():
    for name, fig in every_figure().items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            assert ax.xaxis.get_offset_text().get_text() == "", name
            assert ax.yaxis.get_offset_text().get_text() == "", name
            legend = ax.get_legend()
            if legend is not None:
                box = legend.get_window_extent(renderer)
                assert not box.overlaps(ax.get_window_extent(renderer)), name


def test_values_close_together_are_labelled_in_full_without_an_offset():
    near = -np.log(50257) + np.array([0.0001, 0.0003, -0.0002])
    untrained = pd.DataFrame(
        {"group": ["most_common", "least_common", "never_used"], "masked_mean": near}
    ).assign(unmasked_mean=near + 0.0001)
    fig = figures.plot_probe(untrained, 50257)
    fig.canvas.draw()
    assert fig.axes[0].yaxis.get_offset_text().get_text() == ""
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert all(t.startswith("\u221210.") and len(t) >= 6 for t in ticks), ticks


def test_identical_masked_and_unmasked_curves_are_one_line_with_one_label():
    long = aggregate.long_log(LOGS)
    bands = aggregate.describe(long[long["variant"] == "baseline"], ["quantity", "step"])
    bands.loc[bands["quantity"] == "most_common_unmasked", "mean"] += 0.5  # these two differ
    bands.loc[bands["quantity"] == "least_common_unmasked", "mean"] += 0.005  # one line's width
    legend = figures.plot_training(bands).axes[1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == [
        "most common (masked)",
        "most common (unmasked)",
        "least common (masked ≈ unmasked)",
        "never used (masked = unmasked)",
    ]


def test_a_figure_in_html_carries_its_caption_as_alternative_text():
    text = figures.html_image(every_figure()["training"], 'loss "and" <groups>')
    assert text.startswith('<img src="data:image/png;base64,iVBOR')
    assert re.search(
        r' alt="loss &quot;and&quot; &lt;groups&gt;" style="width: \d+px; max-width: 100%">$', text
    )


def test_the_key_figure_draws_each_seed_faintly_behind_the_mean():
    fig = every_figure()["training"]
    seeds = sum(1 for v, _ in LOGS if v == "baseline")
    for ax, curves in zip(fig.axes, (2, len(GROUP_NAMES)), strict=True):  # loss; groups
        faint = [line for line in ax.get_lines() if line.get_alpha() == figures.SEED_LINE["alpha"]]
        drawn = [line for line in faint if len(line.get_xdata())]  # the legend's sample is empty
        assert len(drawn) == seeds * curves
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels[-1] == "each seed (faint; masked)"


@pytest.mark.parametrize("name", ["untrained_probe", "untrained_token_spread"])
def test_an_untrained_figure_never_magnifies_differences_below_a_tenth_of_a_nat(name):
    low, high = every_figure()[name].axes[0].get_ylim()
    assert high - low >= figures.MIN_SPAN_NATS * (1 - 1e-9)
    assert low <= -np.log(V) <= high


def test_a_report_draws_only_the_figures_its_study_has_something_for():
    sections = outline.FIGURES
    alone = outline.drawn(finetune=False, variants=1)
    assert outline.VARIANTS_SECTION not in {sections[n] for n in alone}
    assert outline.FINETUNE_SECTION not in {sections[n] for n in alone}
    assert "training" in alone and "weights_roc" in alone
    assert "tokenizers" not in alone and "coverage" not in alone
    assert outline.drawn(finetune=True, variants=2, tokenizers=3, coverage=True) == list(sections)
    assert set(outline.drawn(finetune=False, variants=2, tokenizers=3, coverage=True)) == set(
        sections
    ) - {"finetune_recovery"}
    assert set(outline.drawn(finetune=False, variants=1, coverage=True)) == {*alone, "coverage"}
    assert set(outline.drawn(finetune=False, variants=1, tokenizers=2)) == {*alone, "tokenizers"}


def test_every_figure_has_one_width_and_one_set_of_text_sizes_shown_at_its_size():
    def points(size):
        return matplotlib.font_manager.FontProperties(size=size).get_size()

    keys = ("font.size", "axes.titlesize", "legend.fontsize", "figure.titlesize")
    style = {points(plt.rcParams[key]) for key in keys}  # the report's style is applied
    for name, fig in every_figure().items():
        assert fig.get_size_inches()[0] == figures.WIDTH, name
        sizes = {t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()}
        assert sizes <= style, (name, sizes, style)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        width = int.from_bytes(buffer.getvalue()[16:20], "big")
        shown = re.search(r"width: (\d+)px", figures.html_image(fig, name))[1]
        assert int(shown) == round(width * figures.CSS_DPI / figures.STYLE["savefig.dpi"])
