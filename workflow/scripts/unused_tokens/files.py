"""Atomic file writes and hashing, so that no stage leaves a half-written output behind."""

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Temporaries that a killed writer of `path` left behind (a training state can be gigabytes)
    are removed first: only one job ever writes a given output.
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
    if metadata:
        encoded = {k.encode(): str(v).encode() for k, v in metadata.items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **encoded})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet_metadata(path):
    """The string key/value metadata stored with a Parquet file (pandas' own entry left out)."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"}


def write_json(data, path):
    """Write `data` as indented JSON (no NaN: strict JSON), atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
