"""atomic_output: the target appears whole, with normal permissions, or not at all; a Parquet
input is the file its rule wrote there."""

import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.errors import PipelineError
from unused_tokens.pipeline.files import (
    atomic_output,
    check_parquet_inputs,
    read_parquet_metadata,
    write_parquet,
)


def test_success_renames_into_place_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".txt")
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert os.listdir(target.parent) == ["out.txt"]


def test_failure_leaves_neither_target_nor_temp_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(tmp_path):
    stale = [tmp_path / ".resume.abc123.tmp.pt", tmp_path / ".resume.x.tmp.pt"]
    others = [tmp_path / ".model.abc123.tmp.pt", tmp_path / "resume.tmp.pt"]  # not its own
    for path in stale + others:
        path.write_bytes(b"half written")
    with atomic_output(tmp_path / "resume.pt") as tmp:
        tmp.write_bytes(b"state")
    assert (tmp_path / "resume.pt").read_bytes() == b"state"
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)


def test_a_parquet_input_must_be_the_one_its_rule_wrote_there(tmp_path, monkeypatch):
    """Written by write_parquet at its path: accepted. Written by another program (the wrong
    columns, say), copied from another study's folder, or truncated: refused in one line that
    names the rule to remake it."""
    monkeypatch.chdir(tmp_path)
    table = pd.DataFrame({"token_id": [1, 2]}).astype("uint16")
    schema = schemas.tokens("uint16")
    write_parquet(table, "results/a/tokens.parquet", schema)
    write_parquet(table, "results/b/tokens.parquet", schema)
    assert read_parquet_metadata("results/a/tokens.parquet") == {}  # the path is not a fact
    rule = {"results/a/tokens.parquet": "tokenize_corpus"}.get
    check_parquet_inputs(["results/a/tokens.parquet", "results/a/book.txt"], rule)
    remake = "delete it and run snakemake again, which remakes it with rule tokenize_corpus"
    shutil.copy("results/b/tokens.parquet", "results/a/tokens.parquet")
    with pytest.raises(PipelineError) as err:
        check_parquet_inputs(["results/a/tokens.parquet"], rule)
    assert str(err.value) == (
        "results/a/tokens.parquet was written as results/b/tokens.parquet: it is another "
        f"study's file, or a copy; {remake}"
    )
    pd.DataFrame({"id": [1], "n": [2]}).to_parquet("results/a/tokens.parquet")
    with pytest.raises(PipelineError) as err:
        check_parquet_inputs(["results/a/tokens.parquet"], rule)
    assert str(err.value) == (
        "results/a/tokens.parquet was not written by this workflow (its columns: id, n; no "
        f"written_as in its metadata): {remake}"
    )
    data = Path("results/b/tokens.parquet").read_bytes()
    Path("results/a/tokens.parquet").write_bytes(data[:-40])
    with pytest.raises(
        PipelineError,
        match=rf"is not a readable Parquet file .*: it is damaged "
        rf"or truncated; {remake}$",
    ):
        check_parquet_inputs(["results/a/tokens.parquet"], rule)
