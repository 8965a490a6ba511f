"""train: the log's shape and meaning, determinism, and the result on a small corpus."""

import logging
import math
import re
import signal
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from unused_tokens.data.frequency import count_tokens
from unused_tokens.data.groups import group_ids, select_groups
from unused_tokens.data.tokens import tiled_windows
from unused_tokens.model.gpt import build_model, load_model, save_model
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.pipeline.model_config import GPTConfig
from unused_tokens.pipeline.step_options import BASELINE, PIPELINE
from unused_tokens.pipeline.study import TrainSettings
from unused_tokens.training import progress as progress_module
from unused_tokens.training import train as train_module
from unused_tokens.training.batches import random_windows
from unused_tokens.training.hardware import resolve_device
from unused_tokens.training.held_out import HeldOut, Scoring
from unused_tokens.training.progress import CpuLimit, CpuSample, Progress, hms
from unused_tokens.training.train import ResumePoint, train

CFG = GPTConfig(vocab_size=512, context=16, n_embd=32, n_head=2, n_layer=1)

HELD_OUT = ["held_out_loss", "held_out_unseen_loss", "held_out_seen_loss"]


@pytest.fixture(scope="module")
def zipf_corpus():
    """A Zipf-distributed stream over ids 0..349; ids 350..511 never occur."""
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, 351)
    ids = rng.choice(350, size=20_000, p=p / p.sum())
    freq = count_tokens(ids, [str(i) for i in range(CFG.vocab_size)])
    return torch.from_numpy(ids), group_ids(select_groups(freq, size=20, seed=0))


def trained_run(corpus, steps, seed=0, lr=3e-3, resume=None, options=PIPELINE, held_out=None):
    """The trained model and train.Trained of a run on `corpus` in batches of 8."""
    tokens, groups = corpus
    model = build_model(CFG, seed=0)
    settings = TrainSettings(steps, batch_size=8, lr=lr, weight_decay=0.01)
    trained = train(
        model, tokens, groups, settings, seed, "cpu", options, 10, resume, held_out=held_out
    )
    return model, trained


def run(corpus, steps, **settings):
    """The trained model and its training log."""
    model, trained = trained_run(corpus, steps, **settings)
    return model, trained.log


def test_log_has_one_row_per_step_plus_the_start(zipf_corpus):
    _, log = run(zipf_corpus, steps=5)
    assert log.columns.tolist() == schemas.TRAINING_LOG.names
    assert log["step"].tolist() == list(range(6))
    assert log.iloc[0]["loss"] == pytest.approx(math.log(CFG.vocab_size), abs=0.02)
    assert log.drop(columns=HELD_OUT).notna().all().all()
    assert log[HELD_OUT].isna().all().all()  # no held-out slice given


PRECISIONS = {name: replace(PIPELINE, precision=name) for name in ("fp32", "bf16")}


@pytest.mark.parametrize("options", PRECISIONS.values(), ids=PRECISIONS)
def test_same_seed_gives_an_identical_log(zipf_corpus, options):
    _, a = run(zipf_corpus, steps=5, options=options)
    _, b = run(zipf_corpus, steps=5, options=options)
    assert a.equals(b)
    _, c = run(zipf_corpus, steps=5, seed=1, options=options)
    assert not a["loss"].equals(c["loss"])


def test_training_lowers_the_loss_on_a_learnable_corpus(zipf_corpus):
    """A sanity check that the step trains; which way each group moves is the experiment's
    finding, measured by the pipeline, not asserted here."""
    _, log = run(zipf_corpus, steps=150)
    assert log.iloc[-1]["loss"] < log.iloc[0]["loss"] - 1


def test_checkpoint_round_trip(zipf_corpus, tmp_path):
    model, _ = run(zipf_corpus, steps=2)
    save_model(model, tmp_path / "model.pt", steps=2)
    saved = torch.load(tmp_path / "model.pt")
    assert saved["steps"] == 2 and saved["config"]["n_embd"] == 32
    restored = load_model(tmp_path / "model.pt")
    assert restored.cfg == model.cfg
    assert all(
        torch.equal(a, b) for a, b in zip(restored.parameters(), model.parameters(), strict=True)
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_device_choice_without_cuda(caplog):
    assert resolve_device("auto") == "cpu"
    assert "no usable CUDA device: running on the CPU (runtime.device: auto)" in caplog.text
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(PipelineError, match="runtime.device is 'cuda' but no usable CUDA device"):
        resolve_device("cuda")


def test_a_diverging_loss_stops_training_naming_the_step(zipf_corpus):
    with pytest.raises(
        PipelineError, match=r"^training diverged: the loss is nan at step \d+; lower"
    ):
        run(zipf_corpus, steps=30, lr=1e3)


def test_target_counts_are_the_targets_of_every_updated_batch(zipf_corpus):
    tokens, _ = zipf_corpus
    _, trained = trained_run(zipf_corpus, steps=6, seed=3)
    generator = torch.Generator().manual_seed(3)  # the windows train() draws, step by step
    expected = np.zeros(CFG.vocab_size, dtype=np.int64)
    for _ in range(6):  # steps 0-5 update; step 6, measured only, does not count
        _, y = random_windows(tokens, 8, CFG.context, generator)
        expected += np.bincount(y.reshape(-1).numpy(), minlength=CFG.vocab_size)
    assert np.array_equal(trained.target_counts, expected)
    assert trained.target_counts.sum() == 6 * 8 * CFG.context


@pytest.mark.parametrize("options", PRECISIONS.values(), ids=PRECISIONS)
def test_resuming_from_a_saved_state_is_bit_identical(zipf_corpus, tmp_path, caplog, options):
    model, log = run(zipf_corpus, steps=12, options=options)
    resume = ResumePoint(tmp_path / "resume.pt", every=4, fingerprint="abc")
    run(zipf_corpus, steps=12, resume=resume, options=options)  # leaves the state after update 8
    saved = torch.load(resume.path)
    assert saved["next_step"] == 8 and saved["rows"].shape == (8, len(schemas.LOG_ROW))
    caplog.set_level("INFO")
    resumed_model, resumed = trained_run(zipf_corpus, steps=12, resume=resume, options=options)
    assert f"resuming at step 8 from {resume.path}" in caplog.text
    assert resumed.log.equals(log)
    assert np.array_equal(resumed.target_counts, trained_run(zipf_corpus, 12)[1].target_counts)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True)
    )


def test_a_state_from_other_settings_is_ignored(zipf_corpus, tmp_path, caplog):
    run(zipf_corpus, steps=12, resume=ResumePoint(tmp_path / "resume.pt", 4, "abc"))
    _, log = run(zipf_corpus, steps=12, resume=ResumePoint(tmp_path / "resume.pt", 4, "xyz"))
    assert "written by a run with other inputs or settings" in caplog.text
    assert log.equals(run(zipf_corpus, steps=12)[1])


@pytest.mark.parametrize("damage", [b"", b"not a saved state", "truncate"])
def test_a_damaged_state_is_set_aside_and_training_starts_afresh(
    zipf_corpus, tmp_path, caplog, damage
):
    path = tmp_path / "resume.pt"
    run(zipf_corpus, steps=12, resume=ResumePoint(path, 4, "abc"))
    path.write_bytes(path.read_bytes()[:100] if damage == "truncate" else damage)
    _, log = run(zipf_corpus, steps=12, resume=ResumePoint(path, 4, "abc"))
    assert re.search(rf"ignoring {re.escape(str(path))}: it cannot be read \(\w+", caplog.text)
    assert "training starts from step 0" in caplog.text
    assert log.equals(run(zipf_corpus, steps=12)[1])


def test_a_state_saved_before_target_counts_existed_is_set_aside(zipf_corpus, tmp_path, caplog):
    path = tmp_path / "resume.pt"
    run(zipf_corpus, steps=12, resume=ResumePoint(path, 4, "abc"))
    older = torch.load(path)
    del older["targets"]
    torch.save(older, path)
    _, log = run(zipf_corpus, steps=12, resume=ResumePoint(path, 4, "abc"))
    assert (
        f"ignoring {path}: written by an older version of the pipeline (no targets); training "
        "starts from step 0"
    ) in caplog.text
    assert log.equals(run(zipf_corpus, steps=12)[1])


def test_step_options_reach_the_step_and_keep_the_numbers(zipf_corpus):
    """train passes its options to the step (compiled steps: test_step.py)."""
    _, log = run(zipf_corpus, steps=20, options=PRECISIONS["fp32"])
    _, plain = run(zipf_corpus, steps=20, options=BASELINE)
    assert not plain.equals(log)  # another kernel ran...
    pd.testing.assert_frame_equal(
        plain, log, check_exact=False, rtol=0, atol=1e-4
    )  # ...same numbers


def test_sigint_leaves_the_step_under_way_undone_and_the_rerun_does_it(
    zipf_corpus, tmp_path, caplog
):
    """Ctrl-C in step 6 of 12, after its windows are drawn and before its update, with no
    periodic saves: training stops at once with the state of step 5 (the generator as it was
    before step 6 drew), and the rerun, from step 6, ends bit-identical to a run that was never
    interrupted."""
    caplog.set_level(logging.INFO)
    before = signal.getsignal(signal.SIGINT)  # Python's handler, or SIG_IGN in a background job
    _, uninterrupted = run(zipf_corpus, steps=12)
    resume = ResumePoint(tmp_path / "resume.pt", every=0, fingerprint="abc")
    windows = train_module.random_windows
    calls = []

    def ctrl_c_in_step_6(*args):
        drawn = windows(*args)
        calls.append(1)
        if len(calls) == 7:
            signal.raise_signal(signal.SIGINT)
        return drawn

    train_module.random_windows = ctrl_c_in_step_6
    try:
        with pytest.raises(PipelineError) as err:
            run(zipf_corpus, steps=12, resume=resume)
    finally:
        train_module.random_windows = windows
    assert str(err.value) == (
        f"interrupted by SIGINT during step 6, which is left undone: the training state is saved "
        f"to {resume.path}; run the same command again to go on from step 6"
    )
    assert f"step 5: training state saved to {resume.path}" in caplog.text
    assert "step 6: training state saved" not in caplog.text
    assert signal.getsignal(signal.SIGINT) == before  # the handler is back
    _, resumed = run(zipf_corpus, steps=12, resume=resume)
    assert f"resuming at step 6 from {resume.path}" in caplog.text
    assert resumed.equals(uninterrupted)


def test_sigint_once_the_update_has_begun_finishes_the_step_and_saves_it(
    zipf_corpus, tmp_path, caplog, monkeypatch
):
    """Ctrl-C inside step 6's optimizer update: the update finishes, the state after step 6 is
    saved, and the rerun goes on from step 7 to the same end."""
    caplog.set_level(logging.INFO)
    _, uninterrupted = run(zipf_corpus, steps=12)
    resume = ResumePoint(tmp_path / "resume.pt", every=0, fingerprint="abc")
    update, calls = torch.optim.AdamW.step, []

    def ctrl_c_in_update_6(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            signal.raise_signal(signal.SIGINT)
        return update(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", ctrl_c_in_update_6)
    with pytest.raises(PipelineError) as err:
        run(zipf_corpus, steps=12, resume=resume)
    monkeypatch.undo()
    assert str(err.value) == (
        f"interrupted by SIGINT at step 6: the training state is saved to {resume.path}; "
        "run the same command again to go on from step 7"
    )
    _, resumed = run(zipf_corpus, steps=12, resume=resume)
    assert f"resuming at step 7 from {resume.path}" in caplog.text
    assert resumed.equals(uninterrupted)


def test_a_cpu_run_far_over_the_limit_stops_after_its_first_steady_step(
    zipf_corpus, monkeypatch, caplog
):
    """On an idle machine (the CPU times say so, whatever else runs beside the test; the load's
    part is test_progress.py's). The first step, which warms up, never decides alone."""
    caplog.set_level(logging.INFO)
    idle = classmethod(lambda cls, wall: CpuSample(wall, 0.0, 0.0))  # nothing used the CPU
    monkeypatch.setattr(CpuSample, "now", idle)
    tokens, groups = zipf_corpus
    settings = TrainSettings(10_000, batch_size=8, lr=3e-3, weight_decay=0.01)
    model = build_model(CFG, seed=0)
    limit = 1 / 3600 / 1000  # a millisecond: any real estimate is over it
    with pytest.raises(PipelineError) as err:
        train(
            model, tokens, groups, settings, 0, "cpu", PIPELINE, cpu_limit=CpuLimit(limit, runs=3)
        )
    assert re.fullmatch(
        r"training would take about \d+:\d\d:\d\d on this CPU \(3 runs of about "
        r"\d+:\d\d:\d\d: \d+\.\d\d s per step over 1 steady step\), over "
        + re.escape(
            f"runtime.cpu_limit_hours={limit:g}: add config/smoke.yaml to your --configfile list "
            "for the quick version (minutes), use a GPU, or rerun with "
            "--config 'runtime={cpu_limit_hours: 0}' to train anyway"
        ),
        str(err.value),
    )
    first = next(r.getMessage() for r in caplog.records if "step 0/10000" in r.getMessage())
    assert "left" not in first  # no time left from the first step
    assert "step 2/10000" not in caplog.text and "estimate:" not in caplog.text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0:00:00"), (75, "0:01:15"), (39_600, "11:00:00")]
)
def test_time_left_reads_as_hours_minutes_seconds(seconds, text):
    assert hms(seconds) == text


def test_a_progress_line_comes_at_least_every_interval(monkeypatch):
    clock = iter([0.0, 1.0, 5.0, 32.0, 32.0, 40.0])
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    progress = Progress(start=0, steps=1000, tokens_per_step=16, log_every=500, interval_s=30)
    assert progress.due(0)  # the first step always
    progress.report(0, [1.0] * len(schemas.LOG_ROW))  # at t=1
    assert not progress.due(7)  # t=5
    assert progress.due(8)  # t=32: 31 s since the last line
    progress.report(8, [1.0] * len(schemas.LOG_ROW))  # at t=32
    assert not progress.due(9)  # t=40


def test_training_scores_the_slice_at_its_steps_and_trains_exactly_as_without(zipf_corpus):
    _, plain = run(zipf_corpus, steps=5)
    tokens = torch.randint(0, 40, (100,), generator=torch.Generator().manual_seed(1))
    unseen = [5, 17, 33]  # stand-ins for the ids never in the training text
    scoring = Scoring(every=2, max_positions=10_000)
    held = HeldOut(tokens, CFG.context, 8, scoring, "cpu", unseen)
    _, scored = run(zipf_corpus, steps=5, held_out=held)
    assert plain[HELD_OUT].isna().all().all()
    for column in HELD_OUT:
        assert scored[column].notna().tolist() == [True, False, True, False, True, True]
    assert scored.drop(columns=HELD_OUT).equals(plain.drop(columns=HELD_OUT))
    untrained = build_model(CFG, seed=0)  # what run() trains, before its first update
    x, y = tiled_windows(tokens, CFG.context)
    with torch.no_grad():
        losses = -untrained(x).gather(-1, y[..., None])[..., 0]
    chosen = torch.isin(y, torch.tensor(unseen))
    expected = [losses.mean().item(), losses[chosen].mean().item(), losses[~chosen].mean().item()]
    assert scored.loc[0, HELD_OUT].tolist() == pytest.approx(expected, abs=1e-4)
