"""benchmarks/stability.py: the claims of the same study rerun, side by side, from their files."""

import sys

import pytest
from test_claims import jittered

from conftest import ROOT
from unused_tokens.analysis.claims import CLAIMS, TESTED, claims
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet

sys.path.insert(0, str(ROOT / "benchmarks"))
import stability  # noqa: E402


def test_the_script_reads_each_studys_claims_and_counts_the_fragile(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = claims(jittered())
    tuned = table.iloc[1:3].assign(variant="finetune", family="finetune")
    for name, result in (("a", "PASS"), ("b", "FAIL")):
        study = tmp_path / "results" / name
        changed = tuned.assign(result=["PASS", result])
        write_parquet(table, study / "aggregate/gpt2/claims.parquet", schemas.CLAIMS)
        write_parquet(changed, study / "finetune/claims.parquet", schemas.CLAIMS)
    stability.main(["results/a", "results/b"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| variant | claim | a | b | verdict |"
    counted = sum(c.family in TESTED for c in CLAIMS) + 2  # the baseline's, then fine-tuning's
    assert len(lines) == 2 + counted + 2
    assert lines[-1] == f"1 of {counted} counted claims are fragile"
    assert lines[2 + counted - 1].endswith("| PASS | FAIL | fragile |")


def test_a_study_without_claims_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no aggregate/gpt2/claims.parquet; run the study first"):
        stability.main([str(tmp_path / "missing")])
