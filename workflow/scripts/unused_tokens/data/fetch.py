"""Fetch a file from an ordered list of sources, keeping the first copy whose sha256 matches.

A source is a URL: ``https://`` or ``http://`` (streamed with a timeout per read, a deadline for
the whole copy and retries), ``file://``
(a local copy) or ``package://<python package>/<path inside it>`` (a file shipped by an installed
package, which is how the pipeline gets the GPT-2 tokenizer files offline).
"""

import datetime
import errno
import hashlib
import http.client
import importlib.resources
import time
import urllib.error
import urllib.parse
import urllib.request

from ..pipeline.errors import PipelineError
from ..pipeline.files import atomic_output, write_json

CHUNK = 1 << 16


class FetchError(PipelineError):
    """No source gave a file with the expected sha256."""


class TruncatedTransfer(OSError):
    """The connection ended before the announced Content-Length arrived."""


class OversizedTransfer(OSError):
    """The source sends more than the download limit: cut off before it fills the disk."""


class SlowTransfer(OSError):
    """The source is still sending at the deadline (one that trickles): cut off."""


def _open(source, timeout_s):
    """Open `source` for binary reading."""
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        request = urllib.request.Request(source, headers={"User-Agent": "unused-tokens"})
        return urllib.request.urlopen(request, timeout=timeout_s)
    if scheme == "file":
        return open(urllib.request.url2pathname(urllib.parse.urlsplit(source).path), "rb")
    if scheme == "package":
        package, _, inner = source[len("package://") :].partition("/")
        return importlib.resources.files(package).joinpath(inner).open("rb")
    raise ValueError(f"unsupported scheme {scheme!r}: use https://, http://, file:// or package://")


def _describe(err):
    """A short reason for a failed read: the underlying error of a URLError, else the error."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        err = err.reason if isinstance(err.reason, Exception) else err
    if isinstance(err, TruncatedTransfer | OversizedTransfer | SlowTransfer):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _copy_hashing(source, dest, timeout_s, max_bytes, deadline_s):
    """Stream `source` into `dest`; return (sha256 hex, bytes written, first bytes). More than
    `max_bytes`, announced or sent, raises OversizedTransfer; still sending after `deadline_s`
    seconds, SlowTransfer. Reads return what has arrived (read1), so that a source sending a
    byte at a time meets the deadline within a read's timeout."""
    started = time.monotonic()
    digest, size, head = hashlib.sha256(), 0, b""
    limit = f"the download limit of {max_bytes:,} bytes (download.max_mb)"
    with _open(source, min(timeout_s, deadline_s)) as src, open(dest, "wb") as out:
        announced = getattr(src, "headers", {}).get("Content-Length")
        if announced is not None and int(announced) > max_bytes:
            raise OversizedTransfer(f"announces {int(announced):,} bytes, over {limit}")
        read = getattr(src, "read1", src.read)
        while chunk := read(CHUNK):
            head = head or chunk[:512]
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise OversizedTransfer(f"cut off after sending more than {limit}")
            if time.monotonic() - started > deadline_s:
                raise SlowTransfer(
                    f"still sending after {deadline_s:g} s ({size:,} bytes so far), over "
                    "download.deadline_s"
                )
    if announced is not None and size < int(announced):
        raise TruncatedTransfer(f"truncated transfer: {size} of {announced} bytes arrived")
    return digest.hexdigest(), size, head


def _mismatch(got, expected, size, head):
    """Why a copy was rejected: an HTML page where a file was expected, or just another file."""
    start = head.lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return f"an HTML page ({size} bytes), not the expected file (sha256 {got})"
    return f"sha256 mismatch: got {got} ({size} bytes), expected {expected}"


def download_options(download):
    """fetch_verified's keyword arguments from the config's `download` section: how files are
    fetched (never what), the same for every download rule."""
    return {
        "timeout_s": download["timeout_s"],
        "retries": download["retries"],
        "max_bytes": download["max_mb"] << 20,
        "deadline_s": download["deadline_s"],
    }


def fetch_recorded(params, download, dest, provenance):
    """A download rule's one file: fetch_verified from the rule's `params` (sources, sha256 and
    their config key) to `dest`, fetched as the config's `download` section says, with its
    provenance record written to `provenance`; returns the record."""
    record = fetch_verified(
        params.sources, params.sha256, dest, key=params.key, **download_options(download)
    )
    write_json(record, provenance)
    return record


def fetch_verified(
    sources,
    sha256,
    dest,
    timeout_s=30.0,
    retries=2,
    retry_wait_s=1.0,
    key="sources",
    max_bytes=64 << 20,
    deadline_s=600.0,
):
    """Copy the first source whose content has `sha256` to `dest`; return its provenance record.

    Network sources are tried `1 + retries` times; a hash mismatch, more than `max_bytes`
    (announced or sent, the copy then cut off) or a copy still under way after `deadline_s`
    seconds moves on to the next source at once. If every
    source fails, FetchError lists each source with the reason it failed and names the config
    `key` the sources came from; `dest` is left untouched.
    """
    if not sources:
        raise FetchError(f"no sources configured for {dest}: list at least one URL in {key}")
    failures = []
    with atomic_output(dest) as tmp:
        for source in sources:
            network = urllib.parse.urlsplit(source).scheme in ("http", "https")
            for attempt in range(1 + (retries if network else 0)):
                try:
                    got, size, head = _copy_hashing(source, tmp, timeout_s, max_bytes, deadline_s)
                except (OSError, ValueError, ModuleNotFoundError, http.client.HTTPException) as err:
                    if getattr(err, "errno", None) == errno.ENOSPC:
                        raise  # our disk, not the source: atomic_output names it
                    reason = _describe(err)
                    if isinstance(err, OversizedTransfer | SlowTransfer):
                        break
                    if attempt < retries and network:
                        time.sleep(retry_wait_s * (attempt + 1))
                    continue
                if got == sha256:
                    return {
                        "source": source,
                        "sha256": got,
                        "bytes": size,
                        "retrieved_utc": datetime.datetime.now(datetime.UTC).isoformat(
                            timespec="seconds"
                        ),
                        "failed_sources": failures,
                    }
                reason = _mismatch(got, sha256, size, head)
                break
            failures.append({"source": source, "reason": reason})
        tried = "; ".join(f"{f['source']} ({f['reason']})" for f in failures)
        raise FetchError(
            f"could not fetch {dest}: every source in {key} failed: {tried}. Add a reachable "
            f"source to {key} (offline: a file: copy, see config/offline.yaml) or fix its sha256"
        )
