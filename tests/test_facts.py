"""Study facts: what identifies a study, and what each rule cost over all its jobs."""

import json

from unused_tokens.facts import config_hash, durations, study_facts


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
    facts = study_facts("s", experiment, metadata)[""]
    assert facts["variants"] == 'baseline (the experiment), slow ({"train": {"lr": 0.0001}})'
    assert facts["seeds"] == "0, 1, 2" and facts["device"] == "cpu, 2 threads"
    assert facts["config hash"] == config_hash(experiment) and facts["torch"] == "unknown"
    assert json.loads(facts["runtime"]) == {}
