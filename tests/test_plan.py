"""The plan line: the training a study still has to do, timed by the steps measured here."""

import json
import threading

import pytest

from unused_tokens.pipeline import plan
from unused_tokens.pipeline.plan import (
    COLUMNS,
    latest_step_time,
    machine,
    plan_line,
    record_step_time,
    step_kind,
)

RUNTIME = {
    "device": "auto",
    "precision": "auto",
    "train_threads": 2,
    "fused_head": True,
    "compile": False,
    "pad_vocab": 64,
    "adamw": "fused",
    "log_every": 10,  # not part of a step's kind
}
MODEL = {"n_layer": 2, "n_embd": 64, "n_head": 4, "context": 64}


def test_a_kind_of_step_is_the_model_the_batch_and_what_runs_it():
    kind = json.loads(step_kind(MODEL, 16, RUNTIME))
    assert kind == {
        "model": MODEL,
        "batch_size": 16,
        **{k: v for k, v in RUNTIME.items() if k != "log_every"},
    }
    assert step_kind(MODEL, 16, RUNTIME) == step_kind(dict(reversed(MODEL.items())), 16, RUNTIME)
    assert step_kind(MODEL, 16, RUNTIME) != step_kind(MODEL, 32, RUNTIME)
    assert step_kind(MODEL, 16, RUNTIME) != step_kind(MODEL, 16, {**RUNTIME, "train_threads": 4})
    # GPT-2's vocabulary is the default kind (as recorded before tokenizers were a dimension);
    # another names its tokenizer, whose vocabulary sizes the output layer
    assert step_kind(MODEL, 16, RUNTIME, "gpt2") == step_kind(MODEL, 16, RUNTIME)
    other = json.loads(step_kind(MODEL, 16, RUNTIME, "cl100k_base"))
    assert other == {**kind, "tokenizer": "cl100k_base"}


def test_the_latest_measurement_of_this_machine_and_kind_counts(tmp_path):
    path = tmp_path / "results" / ".step_times.tsv"
    small, large = step_kind(MODEL, 16, RUNTIME), step_kind(MODEL, 32, RUNTIME)
    assert latest_step_time(small, path) is None  # no file yet
    record_step_time(0.5, small, path)
    record_step_time(2.0, large, path)
    record_step_time(0.25, small, path)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == list(COLUMNS) and len(lines) == 4
    assert lines[1].split("\t")[1:] == [machine(), small, "0.5"]
    assert latest_step_time(small, path) == 0.25 and latest_step_time(large, path) == 2.0
    with open(path, "a") as out:  # another machine's measurement is not this one's
        out.write(f"2026-01-01T00:00:00+00:00\tother (Some CPU)\t{small}\t9\n")
    assert latest_step_time(small, path) == 0.25


def test_jobs_recording_at_once_keep_whole_lines(tmp_path):
    path = tmp_path / ".step_times.tsv"
    record_step_time(0, "k0", path)
    threads = [
        threading.Thread(target=lambda i=i: [record_step_time(i, f"k{i}", path) for _ in range(50)])
        for i in range(1, 5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    assert len(rows) == 201 and all(len(row) == len(COLUMNS) for row in rows)
    assert all(row[2] == f"k{int(float(row[3]))}" for row in rows)


def test_the_plan_sums_the_runs_at_their_measured_step_times(tmp_path):
    path = tmp_path / ".step_times.tsv"
    small, large = step_kind(MODEL, 16, RUNTIME), step_kind(MODEL, 32, RUNTIME)
    todo = [("training", 150, small)] * 3 + [("training", 500, large), ("fine-tuning", 200, small)]
    assert plan_line(todo, path) == (
        "plan: 3 training runs of 150 steps and 1 training run of 500 steps and 1 fine-tuning run "
        "of 200 steps to do; no step of this kind measured on this machine yet "
        "(results/.step_times.tsv): each train job logs its estimate after its first steps"
    )
    record_step_time(0.2, small, path)
    record_step_time(1.5, large, path)
    assert plan_line(todo, path) == (
        "plan: 3 training runs of 150 steps and 1 training run of 500 steps and 1 fine-tuning run "
        "of 200 steps to do, about 0:14:40 one after another at the step times measured on this "
        "machine (results/.step_times.tsv)"
    )  # 3 * 150 * 0.2 + 500 * 1.5 + 200 * 0.2 = 880 s
    assert plan_line([], path) == "plan: no training left to do"


@pytest.mark.parametrize("cpuinfo", ["model name\t: Some CPU @ 2.1GHz\n", None])
def test_the_machine_is_the_host_and_its_cpu(monkeypatch, tmp_path, cpuinfo):
    info = tmp_path / "cpuinfo"
    if cpuinfo:
        info.write_text("processor\t: 0\n" + cpuinfo)
    monkeypatch.setattr(plan, "CPUINFO", info)
    monkeypatch.setattr(plan.platform, "node", lambda: "node7")
    monkeypatch.setattr(plan.platform, "processor", lambda: "")
    assert machine() == ("node7 (Some CPU @ 2.1GHz)" if cpuinfo else "node7 (unknown)")
