"""The stability check: the claims of the same study rerun, side by side (analysis/stability.py),
from their files (benchmarks/stability.py), and the mark the report gives each claim."""

import re
import sys

import pandas as pd
import pytest
from test_claims import GOOD_MEASURES, jittered

from conftest import ROOT
from unused_tokens.analysis.aggregate import describe, interval
from unused_tokens.analysis.claims import CLAIMS, TESTED, claims
from unused_tokens.analysis.stability import (
    mark_stability,
    read_stability,
    stability,
    stability_sentence,
    write_stability,
)
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet

sys.path.insert(0, str(ROOT / "benchmarks"))
import stability as script  # noqa: E402


def test_a_claim_whose_verdict_changes_across_reruns_is_fragile():
    first = claims(jittered())
    second = first.assign(result=lambda t: t["result"].where(t["family"] != "copying", "FAIL"))
    other = first.assign(variant="sgd")  # a variant only one rerun has
    table = stability({"seeds 0-9": first, "seeds 10-19": pd.concat([second, other])})
    counted = [c.text for c in CLAIMS if c.family in TESTED]
    assert table.columns.tolist() == ["variant", "claim", "seeds 0-9", "seeds 10-19", "verdict"]
    baseline = table[table["variant"] == "baseline"].set_index("claim")
    assert baseline.index.tolist() == counted  # the sanity check is not counted
    assert baseline["verdict"].to_dict() == {
        c: "fragile" if c == CLAIMS[-1].text else "PASS" for c in counted
    }
    assert (table.loc[table["variant"] == "sgd", "verdict"] == "fragile").all()  # missing once


def test_the_verdicts_written_are_read_back_with_their_note_and_mark_the_claims(tmp_path):
    first = claims(jittered())
    second = first.assign(result=lambda t: t["result"].where(t["family"] != "copying", "FAIL"))
    side = stability({"a": first, "b": second})
    path = tmp_path / "verdicts.tsv"
    write_stability(side, path, "four studies, AMD EPYC, 2026-12-08")
    note, table = read_stability(path)
    assert note == "four studies, AMD EPYC, 2026-12-08"
    assert table.equals(side.astype(str))
    marked = mark_stability(first, table).set_index("claim")["rerun"]
    counted = [c.text for c in CLAIMS if c.family in TESTED]
    assert marked.to_dict() == {
        c.text: ("fragile" if c == CLAIMS[-1] else "stable") if c.text in counted else ""
        for c in CLAIMS
    }
    other = mark_stability(first.assign(variant="untied"), table)  # not covered by the check
    assert (other["rerun"] == "").all()
    path.write_text("# not run yet\nvariant\tclaim\tverdict\n", encoding="utf-8")
    note, empty = read_stability(path)
    assert note == "not run yet" and empty.empty
    assert (mark_stability(first, empty)["rerun"] == "").all()


def test_the_script_reads_each_studys_claims_and_counts_the_fragile(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = {m: 1.0 for m in schemas.TARGET_MEASURES + schemas.DRAW_MEASURES}
    measures = jittered().assign(**extra)
    table = claims(jittered())
    tuned = table.iloc[1:3].assign(variant="finetune", family="finetune")
    for name, result in (("a", "PASS"), ("b", "FAIL")):
        study = tmp_path / "results" / name
        changed = tuned.assign(result=["PASS", result])
        write_parquet(table, study / "aggregate/gpt2/claims.parquet", schemas.CLAIMS)
        write_parquet(changed, study / "finetune/claims.parquet", schemas.CLAIMS)
        write_parquet(measures, study / "aggregate/gpt2/measures.parquet", schemas.RUN_MEASURES)
    script.main(["results/a", "results/b", "--write", "verdicts.tsv"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| variant | claim | a | b | verdict |"
    counted = sum(c.family in TESTED for c in CLAIMS) + 2  # the baseline's, then fine-tuning's
    measured = 2 + len(script.MEASURES)  # the measures' table: header, rule, a row each
    assert len(lines) == 2 + counted + 3 + measured
    assert lines[2 + counted + 1] == f"1 of {counted} counted claims are fragile"
    assert lines[-measured] == "| measure | a (3 seeds) | b (3 seeds) |"
    fall = GOOD_MEASURES["change_never_used"]  # seeds at -0.001, 0, +0.001 around it
    three = pd.DataFrame({"quantity": "q", "value": [fall - 0.001, fall, fall + 0.001]})
    expected = interval(describe(three, ["quantity"]).iloc[0], signed=True)
    assert lines[-measured + 4] == f"| `change_never_used` | {expected} | {expected} |"
    note, written = read_stability(tmp_path / "verdicts.tsv")
    assert re.fullmatch(r"studies a, b; .+; \d{4}-\d\d-\d\d", note)
    assert written["verdict"].tolist().count("fragile") == 1 and len(written) == counted
    assert lines[2 + counted - 1].endswith("| PASS | FAIL | fragile |")


def test_a_study_without_claims_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no aggregate/gpt2/claims.parquet; run the study first"):
        script.main([str(tmp_path / "missing")])


def test_the_reports_sentence_counts_the_fragile_or_says_none_is_recorded(tmp_path):
    path = tmp_path / "verdicts.tsv"
    path.write_text("# not run yet\nvariant\tclaim\tverdict\n", encoding="utf-8")
    assert stability_sentence(*read_stability(path)).startswith(
        "No stability check is recorded (config/stability_verdicts.tsv): no verdict below"
    )
    side = stability({"a": claims(jittered()), "b": claims(jittered())})
    side.loc[0, "verdict"] = "fragile"
    write_stability(side, path, "studies a, b; AMD EPYC; 2026-12-08")
    assert stability_sentence(*read_stability(path)).startswith(
        f"The stability check (studies a, b; AMD EPYC; 2026-12-08) reran the quick study with a "
        f"disjoint seed set and in fp32: 1 of the {len(side)} counted claims it covered changed "
        "verdict and are fragile."
    )


def test_the_committed_verdicts_file_can_be_read():
    note, table = read_stability(ROOT / "config" / "stability_verdicts.tsv")
    assert note and {"variant", "claim", "verdict"} <= set(table.columns)
