"""Study facts: what identifies a study, and what each rule cost over all its jobs."""

import html
import json
import os
import re
import subprocess

from conftest import ROOT
from unused_tokens.report.run_facts import (
    config_hash,
    durations,
    input_facts,
    shown,
    study_facts,
    workflow_commit,
)


def test_durations_sum_each_rule_over_its_jobs(tmp_path):
    paths = []
    for run, (seconds, rss) in enumerate([(12.5, 300.25), (7.5, 500.0)]):
        path = tmp_path / f"seed{run}" / "train.tsv"
        path.parent.mkdir()
        path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:12\t{rss}\n")
        paths.append(path)
    (tmp_path / "report.tsv").write_text("s\th:m:s\tmax_rss\n4.0\t0:00:04\t100.0\n")
    table = durations([*paths, tmp_path / "report.tsv"])
    assert table.values.tolist() == [["train", 2, 20.0, 500.0], ["report", 1, 4.0, 100.0]]
    assert table.columns.tolist() == ["rule", "jobs", "seconds", "peak memory (MB)"]


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_study_facts_name_the_variants_and_where_it_ran(default_config):
    experiment = {k: v for k, v in default_config.items() if k != "runtime"}
    experiment["variants"] = {"baseline": {}, "slow": {"train": {"lr": 0.0001}}}
    metadata = {"device": "cpu, 2 threads", "precision": "bf16 (auto: ...)", "runtime": "{}"}
    metadata["host_cpu"] = "Some CPU @ 2.1GHz"
    facts = study_facts(
        "s", experiment, "gpt2", metadata, 3725.4, "abc1234", "2026-11-26 16:30 UTC"
    )[""]
    assert facts["host CPU"] == "Some CPU @ 2.1GHz" and facts["workflow commit"] == "abc1234"
    assert facts["report rendered"] == "2026-11-26 16:30 UTC"
    assert facts["time of all jobs"] == "1:02:05 (summed: jobs side by side count each)"
    assert facts["variants"] == 'baseline (the experiment), slow ({"train": {"lr": 0.0001}})'
    assert facts["seeds"] == "3 (0, 1, 2)" and facts["device"] == "cpu, 2 threads"
    assert facts["config hash"] == config_hash(experiment) and facts["torch"] == "unknown"
    assert json.loads(facts["runtime"]) == {}
    assert facts["tokenizer vocabulary"] == "gpt2 (tiktoken's own files)"
    other = "non-standard (vocab.bpe 0123456789ab, encoder.json ba9876543210)"
    facts = study_facts("s", experiment, other, metadata, 1.0, "abc1234", "now")[""]
    assert facts["tokenizer vocabulary"] == f"{other}: not tiktoken's gpt2 files"


def test_the_workflow_commit_is_git_describe_or_says_why_not(tmp_path):
    assert workflow_commit(tmp_path) == "unknown (not a git checkout)"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert workflow_commit(tmp_path) == head
    index = tmp_path / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    os.utime(tmp_path / "a.txt", ns=(1, 1))  # stat data git would refresh in its index
    assert workflow_commit(tmp_path) == head
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before  # read only
    (tmp_path / "a.txt").write_text("b")
    assert workflow_commit(tmp_path) == f"{head}-dirty"


def test_the_facts_are_shown_whole_and_wrapped(default_config):
    experiment = {k: v for k, v in default_config.items() if k != "runtime"}
    runtime = json.dumps({f"key_{i}": "a long value" for i in range(20)})
    facts = study_facts("s", experiment, "gpt2", {"runtime": runtime}, 1.0, "abc", "now")
    page = shown(facts).to_html()
    assert len(runtime) > 300 and html.unescape(page).count(runtime) == 1  # whole, not cut
    assert "white-space: pre-wrap" in page
    assert ">fact</th>" in page and ">value</th>" in page


def test_input_facts_give_each_files_hash_size_and_source():
    record = {"source": "file:b.txt", "sha256": "ab" * 32, "bytes": 1234, "failed_sources": []}
    gpt2 = {"vocab.bpe": {**record, "source": "package://x/vocab.bpe"}, "encoder.json": record}
    facts = input_facts("A Book", record, {"gpt2": gpt2, "mine": record}).iloc[:, 0]
    line = f"1,234 bytes, sha256 {'ab' * 32}, from"
    assert facts["book"] == f"A Book: {line} file:b.txt"
    assert facts["tokenizer files"].splitlines() == [
        f"gpt2 vocab.bpe: {line} package://x/vocab.bpe",
        f"gpt2 encoder.json: {line} file:b.txt",
        f"mine file: {line} file:b.txt",
    ]


def test_every_rules_log_and_benchmark_file_is_named_after_the_rule():
    """durations() names a rule by its benchmark file's name: a file named by a wildcard
    (benchmarks/aggregate/gpt2.tsv) made three rules one row called gpt2."""
    rules = ROOT / "workflow" / "rules"
    found = {}
    for file in sorted(rules.glob("*.smk")):
        for name, body in re.findall(
            r"^rule (\w+):\n(.*?)(?=^rule |\Z)", file.read_text(), re.M | re.S
        ):
            paths = re.findall(r"^    (log|benchmark):\n\s+(.*)$", body, re.M)
            found[name] = dict(paths)
    assert len(found) >= 15 and all(set(paths) == {"log", "benchmark"} for paths in found.values())
    for name, paths in found.items():
        assert paths["log"].endswith(f'/{name}.log",'), (name, paths)
        assert paths["benchmark"].endswith(f'/{name}.tsv"'), (name, paths)
