"""atomic_output: the target appears whole, with normal permissions, or not at all."""

import os
import stat

import pytest

from unused_tokens.pipeline.files import atomic_output


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
