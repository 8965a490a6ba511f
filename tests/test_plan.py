"""The plan line: the training a study still has to do, timed by the steps measured here."""

import json
import subprocess
import sys
import threading

import pytest

from conftest import copy_workflow
from unused_tokens.pipeline import cpu, plan
from unused_tokens.pipeline.cpu import CpuSample, others_now
from unused_tokens.pipeline.plan import (
    COLUMNS,
    STEP_TIMES,
    Busy,
    PlannedRun,
    about,
    hms,
    latest_step_time,
    latest_step_times,
    machine,
    plan_line,
    record_step_time,
    scoring_kind,
    scorings,
    step_kind,
)
from unused_tokens.pipeline.study import Runtime, Study
from unused_tokens.training.run_context import RunContext

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


HELD_OUT = {"fraction": 0.1, "every": 25, "max_positions": 16384}


def planned(what, steps, kind, book="b" * 64):
    return PlannedRun(what, steps, kind, scorings(steps, 25), scoring_kind(kind, book, HELD_OUT))


def test_the_plan_sums_the_runs_at_their_measured_step_and_scoring_times(tmp_path):
    path = tmp_path / ".step_times.tsv"
    small, large = step_kind(MODEL, 16, RUNTIME), step_kind(MODEL, 32, RUNTIME)
    todo = [planned("training", 150, small)] * 3 + [planned("training", 500, large)]
    todo += [planned("fine-tuning", 200, small, book="a" * 64)]
    runs = (
        "plan: 3 training runs of 150 steps and 1 training run of 500 steps and 1 fine-tuning run "
        "of 200 steps to do"
    )
    assert plan_line(todo, path) == (
        f"{runs}; none of their steps measured on this machine yet (results/.step_times.tsv): "
        "each train job logs its estimate after its first steps"
    )
    record_step_time(0.2, small, path)
    record_step_time(1.5, large, path)
    record_step_time(2.0, scoring_kind(small, "b" * 64, HELD_OUT), path)
    record_step_time(4.0, scoring_kind(large, "b" * 64, HELD_OUT), path)
    # 3 * (150 * 0.2 + 7 * 2) + 500 * 1.5 + 21 * 4 = 966 s; the fine-tuning book's slice is not
    # measured yet
    assert plan_line(todo, path) == (
        f"{runs}, about 0:16:06 one after another at the times measured on this machine for 4 "
        "of them (results/.step_times.tsv); the steps of the other 1 are not measured here yet"
    )
    record_step_time(0.5, scoring_kind(small, "a" * 64, HELD_OUT), path)
    assert plan_line(todo, path) == (
        f"{runs}, about 0:16:50 one after another at the times measured on this machine "
        "(results/.step_times.tsv)"
    )  # and 200 * 0.2 + 9 * 0.5
    assert plan_line([], path) == "plan: no training left to do"


def test_a_plan_beyond_ten_years_says_so(tmp_path):
    """train.steps: 1e20 (a valid integer) at 0.2 s a step."""
    assert hms(2e19) == about(2e19) == "over 10 years"
    assert about(3650 * 86400 - 1) == "about 3649 days, 23:59:59"
    path, kind = tmp_path / ".step_times.tsv", step_kind(MODEL, 16, RUNTIME)
    record_step_time(0.2, kind, path)
    record_step_time(2.0, scoring_kind(kind, "b" * 64, HELD_OUT), path)
    assert plan_line([planned("training", 10**20, kind)], path) == (
        f"plan: 1 training run of {10**20} steps to do, over 10 years one after another at the "
        "times measured on this machine (results/.step_times.tsv)"
    )


@pytest.mark.parametrize(
    "line",
    [
        "abc",
        "2026-01-01T00:00:00+00:00\t{host}\tk\tabc",
        "2026-01-01T00:00:00+00:00\t{host}\tk\tnan",
        "2026-01-01T00:00:00+00:00\t{host}\tk\tinf",
        "2026-01-01T00:00:00+00:00\t{host}\tk\t-5",
        "2026-01-01T00:00:00+00:00\t{host}\tk\t0.5\textra",
        "\x93\xffrandom\tbytes\t\x00\t1",
    ],
    ids=["one-field", "text", "nan", "inf", "negative", "five-fields", "bytes"],
)
def test_a_line_that_cannot_be_read_is_skipped_with_one_warning_naming_the_file(
    tmp_path, capsys, line
):
    path = tmp_path / ".step_times.tsv"
    record_step_time(0.25, "k", path)
    with open(path, "ab") as out:
        bad = line.format(host=machine()) + "\n"
        out.write(bad.encode("latin-1") * 2)
    record_step_time(0.5, "j", path)
    assert latest_step_times(path) == {"k": 0.25, "j": 0.5}
    assert capsys.readouterr().err == (
        f"warning: {path}: 2 lines cannot be read and are skipped (line 3, 4); delete those "
        "lines, or the file, which the next train job starts afresh\n"
    )


def test_a_step_times_path_that_is_a_folder_is_ignored_with_a_warning(tmp_path, capsys):
    path = tmp_path / ".step_times.tsv"
    path.mkdir()
    assert latest_step_times(path) == {}
    assert capsys.readouterr().err == (
        f"warning: {path} cannot be read (Is a directory); the plan ignores it: remove it\n"
    )


@pytest.mark.parametrize("cpuinfo", ["model name\t: Some CPU @ 2.1GHz\n", None])
def test_the_machine_is_the_host_and_its_cpu(monkeypatch, tmp_path, cpuinfo):
    info = tmp_path / "cpuinfo"
    if cpuinfo:
        info.write_text("processor\t: 0\n" + cpuinfo)
    monkeypatch.setattr(plan, "CPUINFO", info)
    monkeypatch.setattr(plan.platform, "node", lambda: "node7")
    monkeypatch.setattr(plan.platform, "processor", lambda: "")
    assert machine() == ("node7 (Some CPU @ 2.1GHz)" if cpuinfo else "node7 (unknown)")


def test_a_step_time_that_cannot_be_recorded_is_a_warning_not_a_stop(
    tmp_path, monkeypatch, caplog, default_config
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / STEP_TIMES).mkdir(parents=True)  # the file's path is taken by a folder
    run = Study.from_config(default_config).run("baseline", 0)
    runtime = Runtime.from_config(default_config)
    context = RunContext(run, runtime, "cpu", precision=None, vocabulary=None, tokens=None)
    context.step_time_recorder(default_config["held_out"], "a" * 64)(0.5, 2.0)
    assert caplog.messages == [
        "the step time is not recorded in results/.step_times.tsv (Is a directory); remove or "
        "fix it for the plans of later studies"
    ]


def test_the_quick_studys_dry_run_fits_on_a_screen_and_gives_its_plan(tmp_path):
    """The documented quick study with fine-tuning, as a new user plans it, without flags:
    the job counts, the reasons and the plan, not each job's listing (-p adds those)."""
    work = copy_workflow(tmp_path / "work")
    overlays = ["config/offline.yaml", "config/smoke.yaml", "config/finetune.yaml"]

    def dry_run(*flags):
        cmd = [sys.executable, "-m", "snakemake", *flags, "--configfile", *overlays]
        result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=True)
        return (result.stdout + result.stderr).splitlines()

    lines = dry_run("-n")
    assert len(lines) <= 60, "\n".join(lines)
    assert sum(line == "Job stats:" for line in lines) == 1
    assert not any(line.startswith(("rule ", "localrule ")) for line in lines)
    assert (
        "plan: 3 training runs of 150 steps and 9 fine-tuning runs of 200 steps to do; none of "
        "their steps measured on this machine yet (results/.step_times.tsv): each train job logs "
        "its estimate after its first steps"
    ) in lines
    listed = dry_run("-np")
    assert sum(line.startswith(("rule ", "localrule ")) for line in listed) == 35  # all 35 jobs


def test_a_plan_made_on_a_busy_machine_adds_the_present_load(tmp_path):
    """Times are measured without other processes' load: where one core of two is busy as the
    plan is made, a run of two threads gets two thirds of the cores, so takes 1.5 times as long;
    one of one thread has a core to itself."""
    path = tmp_path / ".step_times.tsv"
    kind = step_kind(MODEL, 16, RUNTIME)
    record_step_time(0.2, kind, path)
    record_step_time(2.0, scoring_kind(kind, "b" * 64, HELD_OUT), path)
    two = PlannedRun("training", 150, kind, 7, scoring_kind(kind, "b" * 64, HELD_OUT), threads=2)
    one = PlannedRun(**{**two.__dict__, "threads": 1})
    measured = "plan: 1 training run of 150 steps to do, about 0:00:44 one after another"
    assert plan_line([two], path, Busy(1.0, 2)) == (
        f"{measured} at the times measured on this machine (results/.step_times.tsv); about "
        "0:01:06 while other processes keep 1.0 of its 2 cores busy, as now"
    )
    assert plan_line([one], path, Busy(1.0, 2)).endswith("(results/.step_times.tsv)")
    assert plan_line([two], path, Busy(0.1, 2)) == plan_line([two], path)  # an idle machine
    assert plan_line([two], path, Busy(None, 2)) == plan_line([two], path)  # no /proc/stat
    assert Busy(2.0, 4).slowdown(4) == 1.5 and Busy(3.0, 4).slowdown(1) == 1.0


def test_the_load_now_is_what_other_processes_use(monkeypatch):
    """others_now: the cores' worth the machine's busy time grew by, less this process's."""
    samples = iter([CpuSample(10.0, 1.0, 100.0), CpuSample(10.5, 1.25, 101.0)])
    monkeypatch.setattr(CpuSample, "now", classmethod(lambda cls, wall: next(samples)))
    monkeypatch.setattr(cpu.time, "sleep", lambda seconds: None)
    assert others_now() == pytest.approx(1.5)  # 2 cores busy, this process half of one
