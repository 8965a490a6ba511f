"""End to end: real snakemake on a small text the test writes, in a scratch copy of the workflow.

Checks every output's schema, that a second run has nothing to do, and that editing one config
value (or one helper module) reruns exactly the stages downstream of it.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PARQUET_OUTPUTS, STEPS, book_text, prepare_run, snakemake
from unused_tokens.corpus import strip_gutenberg
from unused_tokens.precision import resolve_precision

pytestmark = pytest.mark.workflow

RULES = [
    "download_corpus",
    "download_tokenizer",
    "tokenize",
    "count_tokens",
    "select_groups",
    "probe_untrained",
    "train",
    "probe_vocab",
    "report",
]


def planned_jobs(output):
    return sorted(set(re.findall(r"^(?:local)?rule (\w+):", output, re.MULTILINE)) - {"all"})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = prepare_run(tmp_path_factory.mktemp("workflow"), book_text())
    _, output = snakemake(work)
    return work, output


def out(workdir, path):
    return workdir[0] / "results" / "e2e" / path


@pytest.mark.parametrize("path", PARQUET_OUTPUTS)
def test_every_parquet_output_has_its_schema(workdir, path):
    assert pq.read_schema(out(workdir, path)).remove_metadata() == PARQUET_OUTPUTS[path]


def test_outputs_hold_the_expected_values(workdir, encoding):
    ids = encoding.encode_ordinary(strip_gutenberg(book_text()))
    assert pd.read_parquet(out(workdir, "data/tokens.parquet"))["token_id"].tolist() == ids
    freq = pd.read_parquet(out(workdir, "data/frequency.parquet"))
    assert len(freq) == 50257 and freq["count"].sum() == len(ids)
    summary = pd.read_parquet(out(workdir, "data/frequency_summary.parquet")).iloc[0]
    assert summary["distinct_tokens"] == len(set(ids))
    groups = pd.read_parquet(out(workdir, "data/groups.parquet"))
    assert groups.groupby("group").size().to_dict() == {
        "least_common": 5,
        "most_common": 5,
        "never_used": 5,
    }
    assert (groups.loc[groups["group"] == "never_used", "count"] == 0).all()
    log = pd.read_parquet(out(workdir, "train/training_log.parquet"))
    assert log["step"].tolist() == list(range(STEPS + 1))
    provenance = json.loads(out(workdir, "data/corpus.provenance.json").read_text())
    assert provenance["source"] == (workdir[0] / "book.txt").as_uri()
    assert torch_checkpoint_steps(out(workdir, "train/model.pt")) == STEPS


def torch_checkpoint_steps(path):
    import torch

    return torch.load(path)["steps"]


def test_every_rule_wrote_its_log_and_benchmark(workdir):
    for rule in RULES:
        assert out(workdir, f"logs/{rule}.log").stat().st_size > 0, rule
        bench = pd.read_csv(out(workdir, f"benchmarks/{rule}.tsv"), sep="\t")
        assert bench["s"].iloc[0] >= 0, rule
    train_log = out(workdir, "logs/train.log").read_text()
    assert "device: cpu, 1 threads" in train_log
    assert f"precision: {resolve_precision('auto', 'cpu')}" in train_log
    assert re.search(
        rf"step {STEPS}/{STEPS} loss \d+\.\d+ \| masked/unmasked most_common=", train_log
    )


def test_report_is_rendered_without_code(workdir):
    html = out(workdir, "report/report.html").read_text()
    assert "Claims, measured" in html and html.count("<img") >= 2
    assert "import pandas" not in html
    assert ("PASS" in html) or ("FAIL" in html)


def test_second_run_has_nothing_to_do(workdir):
    _, output = snakemake(workdir[0], "-n")
    assert "Nothing to be done" in output


@pytest.mark.parametrize(
    "overlay, rerun",
    [
        ({"train": {"steps": STEPS + 1}}, ["probe_vocab", "report", "train"]),
        ({"probe": {"batches": 3}}, ["probe_untrained", "probe_vocab", "report"]),
        ({"train": {"compile": True}}, ["probe_vocab", "report", "train"]),
        (
            {"groups": {"seed": 9}},
            ["probe_untrained", "probe_vocab", "report", "select_groups", "train"],
        ),
        (
            {"corpus": {"strip_gutenberg": False}},
            [
                "count_tokens",
                "probe_untrained",
                "probe_vocab",
                "report",
                "select_groups",
                "tokenize",
                "train",
            ],
        ),
    ],
)
def test_a_config_edit_reruns_only_what_depends_on_it(workdir, overlay, rerun):
    (workdir[0] / "config" / "edit.yaml").write_text(yaml.safe_dump(overlay))
    _, output = snakemake(workdir[0], "-n", "--configfile", "config/test.yaml", "config/edit.yaml")
    assert planned_jobs(output) == rerun
    assert re.search(r"reason: Params have changed since last execution", output)


def test_moving_the_compile_cache_reruns_nothing(workdir):
    (workdir[0] / "config" / "edit.yaml").write_text("train:\n  compile_cache: elsewhere\n")
    _, output = snakemake(workdir[0], "-n", "--configfile", "config/test.yaml", "config/edit.yaml")
    assert "Nothing to be done" in output, output


def test_editing_a_helper_module_reruns_its_users(workdir):
    module = workdir[0] / "workflow" / "scripts" / "unused_tokens" / "probe.py"
    original, times = module.read_text(), module.stat()
    module.write_text(
        original + "# an edit\n"
    )  # a new mtime alone is not enough: Snakemake checksums
    try:
        _, output = snakemake(workdir[0], "-n")
    finally:
        module.write_text(original)
        os.utime(module, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert planned_jobs(output) == ["probe_untrained", "probe_vocab", "report", "train"]


def test_bad_config_stops_before_any_job_naming_the_key(workdir):
    (workdir[0] / "config" / "edit.yaml").write_text(yaml.safe_dump({"train": {"steps": -1}}))
    code, output = snakemake(
        workdir[0], "-n", "--configfile", "config/test.yaml", "config/edit.yaml", check=False
    )
    assert code != 0
    assert "config key train.steps: -1 is less than the minimum of 1" in output


PAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = `${loaded}/${images.length}`;
  const claims = [...document.querySelectorAll("table")].find((t) =>
    [...t.querySelectorAll("th")].some((th) => th.textContent.trim() === "claim"));
  const verdicts = claims ? [...claims.querySelectorAll("td")].filter((td) =>
    ["PASS", "FAIL"].includes(td.textContent.trim())).length : -1;
  document.body.dataset.claims = String(verdicts);
});
</script>
"""


def chromium(*args):
    """Run headless Chromium with the flags this machine needs; return its standard output."""
    binary = shutil.which("chromium")
    if binary is None:
        if os.environ.get("UNUSED_TOKENS_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (UNUSED_TOKENS_REQUIRE_BROWSER=1)")
        pytest.skip("chromium is not installed (Debian package chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [binary, *flags, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_report_opens_in_a_browser_with_every_image_and_the_claims(workdir, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(out(workdir, "report/report.html").read_text() + PAGE_CHECK)
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    assert re.search(r'data-images="5/5"', dom), re.findall(r"data-images=\"[^\"]*\"", dom)
    assert re.search(r'data-claims="7"', dom), re.findall(r"data-claims=\"[^\"]*\"", dom)
    shot = tmp_path / "screenshot.png"
    chromium(
        "--window-size=1280,2000",
        f"--screenshot={shot}",
        out(workdir, "report/report.html").as_uri(),
    )
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_snakemake_report_holds_the_figures(workdir):
    snakemake(workdir[0], "--report", "report.zip")
    with zipfile.ZipFile(workdir[0] / "report.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
    figures = {
        "rank_frequency.png",
        "untrained_probe.png",
        "untrained_token_spread.png",
        "training.png",
        "vocabulary_final.png",
    }
    assert figures <= names
