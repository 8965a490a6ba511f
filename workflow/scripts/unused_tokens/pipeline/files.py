"""Atomic file writes and hashing, so that no stage leaves a half-written output behind, and the
check that a stage's Parquet inputs are the files their rules wrote there.

Every Parquet output records the path it was written as (WRITTEN_AS, relative to the working
directory); a stage refuses, before it starts, an input that cannot be read, that records no such
path (another program wrote it: wrong columns, say) or another one (another study's file, copied
in), naming the rule that remakes it.
"""

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import PipelineError

FULL_BELOW = 1 << 20  # bytes: a disk with less than this free after a failed write is full
WRITTEN_AS = "written_as"  # a Parquet output's metadata key: the path it was written as


class DiskFull(PipelineError):
    """A write failed because the disk holding the output has no space left."""

    def __init__(self, path, free):
        super().__init__(
            f"cannot write {path}: the disk holding it is full ({free:,} bytes free); free some "
            "space there, or move results/ to a larger disk, then run snakemake again"
        )


def disk_full(err, folder):
    """Whether `err` (or an error it came from) is a full disk: errno ENOSPC anywhere in its
    chain, or, for writers that hide the errno (torch.save), almost nothing free in `folder`."""
    while err is not None:
        if getattr(err, "errno", None) == errno.ENOSPC:
            return True
        err = err.__cause__ or err.__context__
    return free_bytes(folder) < FULL_BELOW


def free_bytes(folder):
    """Bytes free for this user on the disk holding `folder`."""
    return shutil.disk_usage(_nearest_existing(folder)).free


def check_writable(folder):
    """Refuse, in one line, a `folder` that cannot be created or written (checked on its nearest
    existing parent): a read-only file system, or no permission."""
    existing = _nearest_existing(folder)
    if not os.access(existing, os.W_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        reason = "is on a read-only file system" if read_only else "is not writable for this user"
        raise PipelineError(
            f"cannot write results to {folder}: {existing} {reason}; make it writable, or run "
            "the workflow from a copy in a writable folder (results/ is under its directory)"
        )


def _nearest_existing(folder):
    folder = Path(folder).absolute()
    while not folder.exists():
        folder = folder.parent
    return folder


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Temporaries that a killed writer of `path` left behind (a training state can be gigabytes)
    are removed first: only one job ever writes a given output. A write that fails on a full
    disk raises DiskFull, naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.stem}.", f".tmp{path.suffix}"
    for stale in path.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except Exception as err:
        if not isinstance(err, PipelineError) and disk_full(err, path.parent):
            raise DiskFull(path, free_bytes(path.parent)) from err
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_of(path, chunk_size=1 << 20):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_parquet(df, path, schema, metadata=None):
    """Write a DataFrame as Parquet with exactly `schema` (plus string `metadata`), atomically."""
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    metadata = {**(metadata or {}), WRITTEN_AS: _as_written(path)}
    encoded = {k.encode(): str(v).encode() for k, v in metadata.items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **encoded})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def _as_written(path):
    """`path` as WRITTEN_AS records it: relative to the working directory, normalised."""
    return os.path.normpath(os.path.relpath(path))


def check_parquet_inputs(paths, remade_by):
    """Refuse, in one line, the first of `paths` ending in .parquet whose footer cannot be read
    or that was not written there by the workflow (WRITTEN_AS); `remade_by(path)` names the
    rule that writes it."""
    for path in map(str, paths):
        if not path.endswith(".parquet"):
            continue
        remake = f"delete it and run snakemake again, which remakes it with rule {remade_by(path)}"
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as err:
            raise PipelineError(
                f"{path} is not a readable Parquet file ({type(err).__name__}: {err}): it is "
                f"damaged or truncated; {remake}"
            ) from None
        written = (schema.metadata or {}).get(WRITTEN_AS.encode(), b"").decode()
        if not written:
            raise PipelineError(
                f"{path} was not written by this workflow (its columns: "
                f"{', '.join(schema.names)}; no {WRITTEN_AS} in its metadata): {remake}"
            )
        if written != _as_written(path):
            raise PipelineError(
                f"{path} was written as {written}: it is another study's file, or a copy; {remake}"
            )


def unreadable_parquet(paths):
    """(path, reason) of the first of `paths` ending in .parquet that does not read whole, or
    None."""
    for path in paths:
        if str(path).endswith(".parquet"):
            try:
                pq.read_table(path)
            except (pa.ArrowException, OSError) as err:
                return path, f"{type(err).__name__}: {err}"
    return None


def read_parquet_metadata(path):
    """The string key/value metadata stored with a Parquet file (pandas' own entry and the
    path it was written as left out)."""
    raw = pq.read_schema(path).metadata or {}
    left_out = (b"pandas", WRITTEN_AS.encode())
    return {k.decode(): v.decode() for k, v in raw.items() if k not in left_out}


def write_json(data, path):
    """Write `data` as indented JSON (no NaN: strict JSON), atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
