"""The weights alone: hand-made matrices where the answer is known, the reference set, the
principal component, the geometry by count bucket."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from unused_tokens.analysis.detection import (
    MATRIX_READ,
    METHODS,
    detection,
    method_scores,
    reference_ids,
    scored_matrix,
)
from unused_tokens.analysis.weights import (
    collapse,
    displacement,
    features,
    geometry,
    magikarp_scores,
    principal_directions,
    without_first_component,
)
from unused_tokens.model.gpt import build_model
from unused_tokens.pipeline.model_config import HEADS, GPTConfig
from unused_tokens.pipeline.names import MAGIKARP_INDICATORS
from unused_tokens.report.weights_section import collapse_table, verdict

V, D, UNUSED = 2000, 32, 400


def planted(unused_along_one_direction, seed=0):
    """A stand-in model whose output rows are random, with a large shared spread along one
    direction (the first principal component), and whose first UNUSED rows (count 0) lie,
    where asked, along a second direction of their own."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(V, D))
    rows += 20 * rng.normal(size=(V, 1)) * np.eye(D)[0]  # the common direction: removed
    if unused_along_one_direction:
        rows[:UNUSED] = 0.3 * rows[:UNUSED] + 3 * np.eye(D)[1]
    weight = torch.nn.Parameter(torch.tensor(rows, dtype=torch.float32))
    model = SimpleNamespace(adaptive=None, output_weight=weight, wte=SimpleNamespace(weight=weight))
    counts = np.r_[np.zeros(UNUSED, dtype=int), rng.integers(1, 50, V - UNUSED)]
    return model, counts


def scored_table(model, counts, seed=0):
    """The features of a stand-in model (its own untrained self), with a flat log-probability
    (which sees nothing) and a reference set of 50."""
    reference = reference_ids(counts, 50, seed)
    return features(model, model, np.arange(V), counts, np.zeros(V), reference)


def test_planted_unused_rows_along_one_direction_are_found_and_random_ones_are_not():
    found = detection(scored_table(*planted(True))).set_index("method")
    assert found.index.tolist() == list(METHODS)
    pc1 = found.loc["magikarp_without_pc1"]
    assert pc1["auc"] == 1.0 and pc1["precision_at_k"] == 1.0
    assert pc1["k"] == UNUSED - 50 and pc1["scored"] == V - 50
    chance = detection(scored_table(*planted(False))).set_index("method")
    for indicator in MAGIKARP_INDICATORS:
        assert abs(chance.loc[indicator, "auc"] - 0.5) < 0.05, indicator
    assert chance.loc["final_log_prob", "auc"] == 0.5  # ties everywhere


def test_the_four_magikarp_indicators_by_a_plain_numpy_recomputation():
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(300, 12)) + rng.normal(size=12)  # rows off the origin
    reference = [3, 50, 77, 120]

    def cosine(rows):
        centre = rows[reference].mean(axis=0)
        return rows @ centre / np.linalg.norm(rows, axis=1) / np.linalg.norm(centre)

    centred = matrix - matrix.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]  # first principal direction
    expected = {
        "magikarp_cosine": cosine(matrix),
        "magikarp_centred": cosine(centred),
        "magikarp_without_pc1": cosine(matrix - np.outer(matrix @ top, top)),
        "magikarp_l2": -np.linalg.norm(matrix - matrix[reference].mean(axis=0), axis=1),
    }
    got = magikarp_scores(torch.tensor(matrix), reference)
    assert list(got) == list(MAGIKARP_INDICATORS)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=0, atol=1e-9, err_msg=name)


def test_the_reference_set_is_drawn_from_count_0_ids_and_never_scored():
    model, counts = planted(True)
    reference = reference_ids(counts, 50, seed=3)
    assert len(reference) == 50 and (counts[reference] == 0).all()
    assert reference.tolist() == sorted(reference.tolist())
    assert reference.tolist() == reference_ids(counts, 50, seed=3).tolist()  # seeded
    table = scored_table(model, counts, seed=3)
    scored = table.loc[table["magikarp_cosine"].notna(), "token_id"].to_numpy()
    assert (table[list(MAGIKARP_INDICATORS)].isna().sum(axis=1).isin([0, 4])).all()
    assert np.intersect1d(scored, reference).size == 0
    assert sorted([*scored, *reference]) == list(range(V))
    by_method, truth = method_scores(table)
    assert all(len(values) == len(scored) for values in by_method.values())
    assert truth.sum() == UNUSED - 50


def test_the_first_principal_component_is_removed_from_every_row():
    model, _ = planted(False)
    matrix = model.output_weight.detach()
    top = principal_directions(matrix).eigenvectors[:, -1].float()
    assert abs(float(top[0])) > 0.99  # the planted spread along the first axis
    removed = without_first_component(matrix)
    assert float((removed @ top).abs().max()) < 1e-3
    rest = matrix - (matrix @ top)[:, None] * top
    assert torch.allclose(removed, rest)


def test_collapse_measures_rows_along_one_direction():
    along = torch.tensor([[1.0, 0.1], [2.0, 0.1], [3.0, 0.1]])  # one way, off the origin's axes
    pairwise, share = collapse(along)
    assert pairwise > 0.99 and share > 0.99
    spread = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    pairwise, share = collapse(spread)
    assert pairwise == pytest.approx(-1 / 3) and share == pytest.approx(0.5)


def test_displacement_of_rows_moved_by_one_vector_and_by_their_own():
    before = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]])
    shift = torch.tensor([0.5, -0.5, 0.0])
    length, cosine, spread = displacement(before, before + shift)
    assert length == pytest.approx(shift.norm().item()) and cosine == pytest.approx(1.0)
    assert spread == pytest.approx(0.0, abs=1e-12)
    scale = torch.tensor([[1.0], [2.0], [3.0]])  # one direction, lengths 1, 2, 3 (mean 2)
    length, cosine, spread = displacement(before, before + scale * shift)
    assert cosine == pytest.approx(1.0) and spread == pytest.approx((1 + 0 + 1) / 3 / 2)
    assert length == pytest.approx(2 * shift.norm().item())
    opposite = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    length, cosine, spread = displacement(before, before + opposite)  # mean (0, 1/3, 0)
    assert cosine == pytest.approx(1 / 3) and spread == pytest.approx((2 * 10**0.5 + 2) / 3)
    assert all(np.isnan(displacement(before[:0], before[:0])))


def test_features_and_geometry_of_a_real_model_by_count_bucket():
    cfg = GPTConfig(vocab_size=500, context=8, n_embd=16, n_head=2, n_layer=1)
    untrained, trained = build_model(cfg, seed=0), build_model(cfg, seed=1)
    counts = np.r_[np.zeros(100, dtype=int), np.ones(100, dtype=int), np.full(300, 7)]
    table = features(trained, untrained, np.arange(500), counts, np.full(500, -6.0), [0, 1])
    assert len(table) == 500 and table["count"].tolist() == counts.tolist()
    norms = trained.wte.weight.detach().norm(dim=1).numpy()
    assert np.allclose(table["input_norm_trained"], norms)
    assert np.allclose(table["output_norm_trained"], norms)  # tied
    shape = geometry(trained, untrained, counts).set_index(["model", "bucket"])
    assert shape["tokens"].tolist() == [100, 100, 300, 0, 0] * 2
    assert np.isnan(shape.loc[("untrained", "0"), "moved_cosine"])
    assert abs(shape.loc[("trained", "0"), "moved_cosine"]) < 0.2  # two unrelated seeds
    assert -0.05 < shape.loc[("trained", "0"), "pairwise_cosine"] < 0.05
    moves = (trained.wte.weight - untrained.wte.weight).detach().double()
    for bucket, rows in (("0", slice(0, 100)), ("2-10", slice(200, 500))):
        expected = displacement(untrained.wte.weight[rows], trained.wte.weight[rows])
        got = shape.loc[("trained", bucket), ["displacement_norm", "displacement_cosine"]]
        assert got.tolist() == pytest.approx(expected[:2])
        assert got["displacement_norm"] == pytest.approx(moves[rows].norm(dim=1).mean().item())
    assert shape.loc["untrained", "displacement_norm"].isna().all()


def test_the_verdict_names_every_indicator_and_reads_its_interval():
    aucs = {
        "magikarp_cosine": (0.95, 0.93, 0.97),
        "magikarp_centred": (0.70, 0.60, 0.80),
        "magikarp_without_pc1": (0.55, 0.45, 0.65),
        "magikarp_l2": (0.30, 0.25, 0.35),
        "row_norm": (0.10, 0.08, 0.12),
        "final_log_prob": (0.99, 0.98, 1.0),
    }
    assert set(aucs) == set(METHODS)
    rows = [
        ("baseline", m, "auc", 3, mean, 0.01, low, high) for m, (mean, low, high) in aucs.items()
    ]
    columns = ["variant", "method", "quantity", "n_seeds", "mean", "std", "ci_low", "ci_high"]
    sentence = verdict(pd.DataFrame(rows, columns=columns), "baseline", scored_matrix("softmax"))
    assert sentence == (
        "`baseline`: from the trained output matrix alone, the Magikarp cosine gives most of "
        "them away (AUC 0.950 [0.930, 0.970]); the Magikarp cosine, centred tells them "
        "apart better than chance (AUC 0.70 [0.60, 0.80]); the Magikarp cosine without the "
        "first PC does not tell them apart better than chance (AUC 0.55 [0.45, 0.65]); the "
        "Magikarp L2 distance points the wrong way (never-used ids score low) (AUC 0.300 "
        "[0.250, 0.350]); the low row norm points the wrong way (never-used ids score low) (AUC "
        "0.100 [0.080, 0.120]). For reference, the final log-probability on the probe's batches, "
        "which is the effect itself and not read from the weights: AUC 0.990 [0.980, 1.000]."
    )


def test_the_verdict_names_the_matrix_the_detector_read():
    rows = [("adaptive", m, "auc", 3, 0.5, 0.01, 0.45, 0.55) for m in METHODS]
    columns = ["variant", "method", "quantity", "n_seeds", "mean", "std", "ci_low", "ci_high"]
    sentence = verdict(pd.DataFrame(rows, columns=columns), "adaptive", scored_matrix("adaptive"))
    assert sentence.startswith(
        "`adaptive`: from the trained input embedding (an adaptive softmax has no single output "
        "matrix) alone, the Magikarp cosine does not tell them apart better than chance (AUC "
        "0.500 [0.450, 0.550]); the Magikarp cosine, centred does not"
    )
    assert sentence.endswith(
        "For reference, the final log-probability on the probe's batches, which is the effect "
        "itself and not read from the weights: AUC 0.500 [0.450, 0.550]."
    )
    assert scored_matrix("softmax") == "output matrix"
    assert set(MATRIX_READ) == set(HEADS)  # every head says what the detector reads


def test_with_one_seed_an_auc_is_one_value_never_a_zero_width_interval():
    rows = [("solo", m, "auc", 1, 0.604, float("nan"), float("nan"), float("nan")) for m in METHODS]
    columns = ["variant", "method", "quantity", "n_seeds", "mean", "std", "ci_low", "ci_high"]
    sentence = verdict(pd.DataFrame(rows, columns=columns), "solo", scored_matrix("softmax"))
    assert "(AUC 0.604 (one seed: no interval))" in sentence
    assert "[0.604" not in sentence


def test_the_collapse_table_shows_the_never_used_rows_before_and_after():
    quantities = {"pairwise_cosine": (0.0, 0.99), "first_component_share": (0.02, 0.99)}
    quantities["mean_norm"] = (0.16, 2.4)
    rows = [
        ("baseline", model, "0", quantity, 3, values[i], 0.0, 0.0, 0.0)
        for quantity, values in quantities.items()
        for i, model in enumerate(("untrained", "trained"))
    ]
    columns = ["variant", "model", "bucket", "quantity", "n_seeds", "mean", "std"]
    table = collapse_table(pd.DataFrame(rows, columns=[*columns, "ci_low", "ci_high"]), "baseline")
    assert list(table.columns) == [
        "mean pairwise cosine",
        "share along their first direction",
        "mean norm",
    ]
    assert table.loc["trained"].tolist() == [0.99, 0.99, 2.4]
    assert table.loc["untrained"].tolist() == [0.0, 0.02, 0.16]
