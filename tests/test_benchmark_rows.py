"""benchmarks/rows.py: benchmark rows appended to a CSV file, its header widened when new
columns come, and nothing half written left behind when the file cannot be rewritten."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from rows import append_rows  # noqa: E402


def test_rows_are_appended_and_new_columns_widen_the_header(tmp_path):
    path = tmp_path / "figures.csv"
    append_rows(path, [{"machine": "cpu, 2 threads", "s": 1.5}])
    append_rows(path, [{"machine": "cuda", "s": 0.5, "gpu_jobs": 3}])
    assert path.read_text().splitlines() == [
        "machine,s,gpu_jobs",
        '"cpu, 2 threads",1.5,',
        "cuda,0.5,3",
    ]


def test_a_file_that_cannot_be_rewritten_stays_as_it_was_with_no_temporary_file(tmp_path):
    path = tmp_path / "figures.csv"
    path.write_text("machine,s\ncpu, 2 threads,1.5\n")  # a comma left unquoted: a third field
    with pytest.raises(ValueError, match="dict contains fields not in fieldnames"):
        append_rows(path, [{"machine": "cuda", "s": 0.5}])
    assert path.read_text() == "machine,s\ncpu, 2 threads,1.5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures.csv"]
