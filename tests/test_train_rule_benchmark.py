"""benchmarks/train_rule.py times the real train rule twice; the second run compiles nothing."""

import csv
import sys

import pytest
import yaml

from conftest import ROOT, book_text, prepare_run
from unused_tokens.training.hardware import resolve_precision

pytestmark = [pytest.mark.workflow, pytest.mark.compile]  # the real train rule, compiled


def test_second_run_takes_every_compiled_graph_from_the_cache(tmp_path, capsys):
    workdir = prepare_run(tmp_path / "run", book_text())
    overlay = {"runtime": {"compile": True, "compile_mode": "reduce-overhead"}}
    (workdir / "config" / "compiled.yaml").write_text(yaml.safe_dump(overlay))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import train_rule

    out = tmp_path / "train_rule.csv"
    configs = ["config/test.yaml", "config/compiled.yaml"]
    train_rule.main(["--workdir", str(workdir), "--configfile", *configs, "--out", str(out)])

    printed = capsys.readouterr().out
    assert "cold cache: train job" in printed and "warm cache: train job" in printed
    cold, warm = csv.DictReader(out.open())
    assert (cold["run"], warm["run"]) == ("cold cache", "warm cache")
    assert cold["device"] == warm["device"] == "cpu, 1 threads"
    assert cold["precision"] == warm["precision"] == resolve_precision("auto", "cpu").name
    assert cold["configs"] == "config/test.yaml config/compiled.yaml"
    assert cold["compile"].startswith("torch.compile: 0 graphs from the cache, ")
    compiled = int(cold["compile"].split(", ")[1].split()[0])
    assert compiled >= 2  # the forward and backward graphs of the body and the statistics
    assert warm["compile"] == f"torch.compile: {compiled} graphs from the cache, 0 compiled"
    assert all(float(row["train_job_s"]) > 0 for row in (cold, warm))
    run = workdir / "results" / "bench-train-rule" / "runs" / "gpt2" / "baseline" / "seed0"
    assert (run / "train" / "training_log.parquet").exists()
