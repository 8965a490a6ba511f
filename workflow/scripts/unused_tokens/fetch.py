"""Fetch a file from an ordered list of sources, keeping the first copy whose sha256 matches.

A source is a URL: ``https://`` or ``http://`` (streamed with a timeout and retries), ``file://``
(a local copy) or ``package://<python package>/<path inside it>`` (a file shipped by an installed
package, which is how the pipeline gets the GPT-2 tokenizer files offline).
"""

import datetime
import hashlib
import importlib.resources
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import PipelineError
from .files import atomic_output

CHUNK = 1 << 16


class FetchError(PipelineError):
    """No source gave a file with the expected sha256."""


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
    return f"{type(err).__name__}: {err}"


def _copy_hashing(source, dest, timeout_s):
    """Stream `source` into `dest`; return (sha256 hex, bytes written)."""
    digest, size = hashlib.sha256(), 0
    with _open(source, timeout_s) as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fetch_verified(
    sources, sha256, dest, timeout_s=30.0, retries=2, retry_wait_s=1.0, key="sources"
):
    """Copy the first source whose content has `sha256` to `dest`; return its provenance record.

    Network sources are tried `1 + retries` times; a hash mismatch moves on to the next source at
    once. If every source fails, FetchError lists each source with the reason it failed and names
    the config `key` the sources came from; `dest` is left untouched.
    """
    if not sources:
        raise FetchError(f"no sources configured for {dest}: list at least one URL in {key}")
    failures = []
    with atomic_output(dest) as tmp:
        for source in sources:
            network = urllib.parse.urlsplit(source).scheme in ("http", "https")
            for attempt in range(1 + (retries if network else 0)):
                try:
                    got, size = _copy_hashing(source, tmp, timeout_s)
                except (OSError, ValueError, ModuleNotFoundError) as err:
                    reason = _describe(err)
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
                reason = f"sha256 mismatch: got {got}, expected {sha256}"
                break
            failures.append({"source": source, "reason": reason})
        tried = "; ".join(f"{f['source']} ({f['reason']})" for f in failures)
        raise FetchError(
            f"could not fetch {dest}: every source in {key} failed: {tried}. Add a reachable "
            f"source to {key} (offline: a file: copy, see config/offline.yaml) or fix its sha256"
        )
