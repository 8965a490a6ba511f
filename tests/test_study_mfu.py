"""benchmarks/study_mfu.py: a study's model FLOPs over its wall time and the device's peak."""

import json
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import study_mfu  # noqa: E402
from train_step import flops_per_token  # noqa: E402

from unused_tokens.pipeline.model_config import ADAPTIVE_DIV, GPTConfig  # noqa: E402

MODEL = {"context": 8, "n_embd": 16, "n_head": 2, "n_layer": 1, "tied": True}
MODEL |= {"output_bias": False, "vocabulary": "full", "head": "softmax"}
RUNTIME = {"device": "cpu", "precision": "fp32", "train_threads": 1, "fused_head": True}
RUNTIME |= {"compile": False, "pad_vocab": 64, "adamw": "fused"}


def fake_run(study, tokenizer, seed, steps, vocabulary="full"):
    folder = study / f"runs/{tokenizer}/baseline/seed{seed}/train"
    folder.mkdir(parents=True)
    run = {"variant": "baseline", "seed": seed, "model": {**MODEL, "vocabulary": vocabulary}}
    run["train"] = {"batch_size": 4}
    meta = {"run": json.dumps(run), "runtime": json.dumps(RUNTIME), "device": "NVIDIA H100 80GB"}
    table = pa.table({"step": list(range(steps + 1))}).replace_schema_metadata(meta)
    pq.write_table(table, folder / "training_log.parquet")


def test_the_study_mfu_is_every_runs_flops_over_wall_time_and_peak(tmp_path, capsys):
    study = tmp_path / "results" / "s"
    for tokenizer, vocab in (("gpt2", 300), ("other", 500)):
        data = study / f"data/pretrain/{tokenizer}"
        data.mkdir(parents=True)
        counts = [0] * (vocab // 2) + [3] * (vocab - vocab // 2)
        pd.DataFrame({"count": counts}).to_parquet(data / "frequency.parquet")
    fake_run(study, "gpt2", 0, 10)
    fake_run(study, "other", 0, 20, vocabulary="corpus")  # 250 ids used of 500
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "a.snakemake.log").write_text(
        "[Fri Dec  4 00:10:00 2026]\nrule train:\n[Fri Dec  4 00:12:30 2026]\nFinished.\n"
    )
    study_mfu.main([str(study), "--log-folder", str(logs)])
    lines = capsys.readouterr().out.splitlines()
    tokens = 4 * MODEL["context"]
    total = 10 * tokens * flops_per_token(GPTConfig(vocab_size=300, **MODEL))
    total += 20 * tokens * flops_per_token(GPTConfig(vocab_size=250, **MODEL))
    assert lines[0] == (
        f"{study}: 2 runs, 30 steps, {total:.3g} model FLOPs; wall 150 s "
        f"({logs / 'a.snakemake.log'}); peak 989 TFLOP/s"
    )
    assert lines[1] == f"study MFU: {total / 150 / 989e12:.1%}"


def test_a_study_begun_before_the_newest_log_needs_its_wall_time_given(tmp_path, capsys):
    study = tmp_path / "results" / "s"
    data = study / "data/pretrain/gpt2"
    data.mkdir(parents=True)
    pd.DataFrame({"count": [3] * 300}).to_parquet(data / "frequency.parquet")
    fake_run(study, "gpt2", 0, 10)
    logs = study / "runs/gpt2/baseline/seed0/logs"
    logs.mkdir()
    (logs / "train.log").write_text("2026-12-04 00:05:00,123 INFO device: cuda (NVIDIA H100)\n")
    snakemake_logs = tmp_path / "log"
    snakemake_logs.mkdir()
    resumed = snakemake_logs / "b.snakemake.log"
    resumed.write_text("[Fri Dec  4 00:10:00 2026]\nrule weights:\n[Fri Dec  4 00:12:30 2026]\n")
    with pytest.raises(SystemExit) as stop:
        study_mfu.main([str(study), "--log-folder", str(snakemake_logs)])
    assert stop.value.code == (
        f"{resumed} began at 2026-12-04 00:10:00, after the first training run of {study} "
        "(2026-12-04 00:05:00): the study ran in several invocations; give its --wall-s"
    )
    study_mfu.main([str(study), "--wall-s", "600"])
    assert "; wall 600 s (given); " in capsys.readouterr().out


def test_flops_per_token_counts_what_multiplies():
    base = GPTConfig(vocab_size=300, **MODEL)  # tied: the embedding is the output matrix
    untied = GPTConfig(vocab_size=300, **(MODEL | {"tied": False}))  # an input lookup beside it
    assert flops_per_token(untied) == flops_per_token(base)
    biased = GPTConfig(vocab_size=300, **(MODEL | {"output_bias": True}))
    assert flops_per_token(biased) - flops_per_token(base) == 6 * 300
    adaptive = GPTConfig(vocab_size=300, **(MODEL | {"head": "adaptive", "tied": False}))
    head = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 300, adaptive.cutoffs, div_value=ADAPTIVE_DIV)
    n_head = sum(p.numel() for p in head.parameters())  # instead of the output matrix
    assert flops_per_token(adaptive) == flops_per_token(base) - 6 * 300 * 16 + 6 * n_head


def test_a_step_alone_is_each_runs_flops_over_its_kinds_recorded_time():
    runs = pd.DataFrame({"flops_per_step": [2e12, 6e12, 1e12], "kind": ["a", "b", "c"]})
    assert study_mfu.step_mfu(runs, 1e13, {"a": 1.0, "b": 1.0}) == pytest.approx(0.4)
    assert study_mfu.step_mfu(runs, 1e13, {}) is None
