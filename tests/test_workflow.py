"""End to end: real snakemake on a small text the test writes, in a scratch copy of the workflow.

Checks every output's schema, that a second run has nothing to do, and that editing one config
value (or one helper module) reruns exactly the stages downstream of it.
"""

import datetime
import hashlib
import html
import json
import math
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from conftest import (
    FINETUNE_OUTPUTS,
    FINETUNE_STEPS,
    HANG_S,
    PAGES,
    PARQUET_OUTPUTS,
    ROOT,
    STEPS,
    TINY,
    book_text,
    copy_workflow,
    finetune_overlay,
    merged,
    prepare_run,
    second_book_text,
    snakemake,
)
from unused_tokens.analysis.claims import CLAIMS, tally
from unused_tokens.analysis.detection import COUNT_BUCKETS
from unused_tokens.data.corpus import strip_gutenberg
from unused_tokens.data.tokens import read_tokens, tiled_windows
from unused_tokens.pipeline import names, schemas
from unused_tokens.pipeline.files import read_parquet_metadata
from unused_tokens.pipeline.modules import helper_modules
from unused_tokens.pipeline.plan import scorings
from unused_tokens.report.outline import drawn
from unused_tokens.training.hardware import resolve_precision

pytestmark = pytest.mark.workflow

FIGURES = drawn(finetune=True, variants=2)  # the workdir study's: one tokenizer, no coverage

MATRIX = {"seeds": [0, 1], "variants": {"lr_high": {"train": {"lr": 0.01}}}}
RUNS = [(v, s) for v in ("baseline", "lr_high") for s in (0, 1)]
BOOK_RULES = ["download_corpus", "tokenize_corpus", "count_tokens"]  # once per book
DATA_RULES = [*BOOK_RULES, "download_tokenizer", "select_groups"]
RUN_RULES = ["probe_untrained", "train", "probe_vocab", "weights"]
TRAINED = ["train", "probe_vocab", "weights"]  # what a change of the training reruns


def planned_jobs(output):
    """(rule, variant, seed) of every job a dry run plans, sorted; variant and seed may be ''."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\n]*\]\n(?:local)?rule )", output):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.MULTILINE)
        if rule and rule[1] != "all":
            wildcards = dict(re.findall(r"(variant|seed)=([\w.-]+)", block))
            jobs.append((rule[1], wildcards.get("variant", ""), wildcards.get("seed", "")))
    return sorted(jobs)


def run_jobs(runs, rules):
    """The (rule, variant, seed) jobs of `rules` for `runs`."""
    return [(rule, variant, str(seed)) for variant, seed in runs for rule in rules]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A study of two variants and two seeds, run once, with a temporary folder and a home of
    its own (outside(work) finds them)."""
    base = tmp_path_factory.mktemp("workflow")
    alice = base / "alice.txt"
    alice.write_text(second_book_text())
    work = prepare_run(base / "work", book_text(), merged(MATRIX, finetune_overlay(alice)))
    git = ["git", "-C", str(work), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the workflow"]):
        subprocess.run([*git, *args], check=True)
    (base / "git.json").write_text(json.dumps(git_state(work)))
    for folder in outside(work):
        folder.mkdir()
    (work.parent / "started").touch()
    tmp, home = outside(work)
    _, output = snakemake(work, env={"TMPDIR": str(tmp), "HOME": str(home)})
    return work, output


def git_state(work):
    """{path under .git: sha256} of the checkout `work`."""
    files = sorted(p for p in (work / ".git").rglob("*") if p.is_file())
    return {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def outside(work):
    """The temporary folder and the home the study in `work` ran with."""
    return work.parent / "tmp", work.parent / "home"


def out(workdir, path):
    return workdir[0] / "results" / "e2e" / path


def run_path(variant, seed, path):
    return f"runs/gpt2/{variant}/seed{seed}/{path}"


def test_a_run_writes_nothing_outside_results_but_known_caches(workdir):
    """Nothing left in the temporary folder, so nothing piles up from run to run; in the home,
    only the libraries' own caches, made once; in the workflow's folder, only results/ and
    Snakemake's .snakemake/."""
    work = workdir[0]
    tmp, home = outside(work)
    assert list(tmp.iterdir()) == []
    assert sorted(str(p.relative_to(home)) for p in home.glob("*/*")) == [
        ".cache/matplotlib",  # the font list
        ".cache/snakemake",  # its source cache
        ".config/matplotlib",  # empty
        ".ipython/profile_default",  # made by the report's kernel
    ]
    started = (work.parent / "started").stat().st_mtime
    written = [
        str(p.relative_to(work))
        for p in work.rglob("*")
        if p.stat().st_mtime > started and p.parts[len(work.parts)] not in ("results", ".snakemake")
    ]
    assert written == []


def test_the_checkouts_git_folder_is_untouched_and_the_report_names_its_commit(workdir):
    """Reading the commit for the report's run facts must not refresh git's index: .git holds
    the same files with the same bytes as before the study."""
    work = workdir[0]
    assert git_state(work) == json.loads((work.parent / "git.json").read_text())
    head = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    report = out(workdir, "report/report.html").read_text()
    assert head in report and f"{head}-dirty" not in report


@pytest.mark.parametrize("path", [*PARQUET_OUTPUTS, *FINETUNE_OUTPUTS])
def test_every_parquet_output_has_its_schema(workdir, path):
    schema = {**PARQUET_OUTPUTS, **FINETUNE_OUTPUTS}[path]
    assert pq.read_schema(out(workdir, path)).remove_metadata() == schema


def test_outputs_hold_the_expected_values(workdir, encoding):
    whole = encoding.encode_ordinary(strip_gutenberg(book_text()))
    cut = len(whole) - math.ceil(0.1 * len(whole))  # held_out.fraction: 0.1
    ids, held_out = whole[:cut], whole[cut:]
    assert (
        pd.read_parquet(out(workdir, "data/pretrain/gpt2/tokens.parquet"))["token_id"].tolist()
        == ids
    )
    written = pd.read_parquet(out(workdir, "data/pretrain/gpt2/held_out.parquet"))[
        "token_id"
    ].tolist()
    assert written == held_out
    freq = pd.read_parquet(out(workdir, "data/pretrain/gpt2/frequency.parquet"))
    assert len(freq) == 50257 and freq["count"].sum() == len(ids)
    summary = pd.read_parquet(out(workdir, "data/pretrain/gpt2/frequency_summary.parquet")).iloc[0]
    assert summary["distinct_tokens"] == len(set(ids))
    groups = pd.read_parquet(out(workdir, "data/groups/gpt2.parquet"))
    assert groups.groupby("group").size().to_dict() == {
        "least_common": 5,
        "most_common": 5,
        "never_used": 5,
    }
    assert (groups.loc[groups["group"] == "never_used", "count"] == 0).all()
    for variant, seed in RUNS:
        log = pd.read_parquet(out(workdir, run_path(variant, seed, "train/training_log.parquet")))
        assert log["step"].tolist() == list(range(STEPS + 1))
        assert log.loc[log["held_out_loss"].notna(), "step"].tolist() == [0, 2, 4, 6]  # every 2
        assert log["held_out_seen_loss"].notna().tolist() == log["held_out_loss"].notna().tolist()
        saved = torch.load(out(workdir, run_path(variant, seed, "train/model.pt")))
        assert saved["steps"] == STEPS
    provenance = json.loads(out(workdir, "data/pretrain/corpus.provenance.json").read_text())
    assert provenance["source"] == (workdir[0] / "book.txt").as_uri()
    # the held-out targets never in the training text, counted as the log's metadata says
    counts = pd.read_parquet(out(workdir, "data/pretrain/gpt2/frequency.parquet"))["count"]
    held = torch.from_numpy(read_tokens(out(workdir, "data/pretrain/gpt2/held_out.parquet")))
    _, targets = tiled_windows(held, TINY["model"]["context"], 16384)
    unseen = int((counts.to_numpy()[targets.numpy()] == 0).sum())
    log = out(workdir, run_path(*RUNS[0], "train/training_log.parquet"))
    positions = json.loads(read_parquet_metadata(log)["held_out_positions"])
    assert positions == [targets.numel(), unseen, targets.numel() - unseen]


def test_fine_tuning_runs_every_arm_and_the_report_shows_it(workdir):
    tuned = pd.read_parquet(out(workdir, "data/finetune_groups.parquet"))
    new = tuned.loc[tuned["group"] == names.NEW_GROUP, "token_id"]
    first = pd.read_parquet(out(workdir, "data/pretrain/gpt2/frequency.parquet"))["count"]
    second = pd.read_parquet(out(workdir, "data/finetune/gpt2/frequency.parquet"))["count"]
    assert len(new) == 5 and (first[new] == 0).all() and (second[new] > 0).all()
    for arm in names.ARMS:
        for seed in (0, 1):
            log = pd.read_parquet(out(workdir, f"finetune/{arm}/seed{seed}/log.parquet"))
            assert log["step"].tolist() == list(range(FINETUNE_STEPS + 1))
            held_out = log.filter(like="held_out_")
            assert held_out.notna().all(axis=1).tolist() == [s % 2 == 0 for s in log["step"]]
            assert log.drop(columns=held_out.columns).notna().all().all()
    reset = out(workdir, "finetune/pretrained_reset/seed0/logs/finetune.log").read_text()
    assert f"reset: {int((first == 0).sum())} rows of ids with count 0 in the first book" in reset
    claims = pd.read_parquet(out(workdir, "finetune/claims.parquet"))
    losses = claims.iloc[:6]  # 3 claims at each of the 2 report steps, then 2 on the steps
    assert len(claims) == 8 and set(losses["result"]) <= {"PASS", "FAIL"}
    assert losses["measured"].str.contains(r"\[[-+0-9.e]+, [-+0-9.e]+\]").all()  # 2 seeds
    html = out(workdir, "report/report.html").read_text()
    assert "Fine-tuning on a new book" in html and "Steps until the new tokens" in html


def test_the_run_ends_by_printing_the_report_and_the_tally_of_every_claim(workdir):
    tables = [
        pd.read_parquet(out(workdir, f"{f}/claims.parquet")) for f in ("aggregate/gpt2", "finetune")
    ]
    claims = pd.concat(tables, ignore_index=True)
    assert claims["variant"].unique().tolist() == ["baseline", "lr_high", "finetune"]
    assert f"report: results/e2e/report/report.html\nclaims: {tally(claims)}\n" in workdir[1]


def test_every_run_is_its_own_seed_and_variant(workdir):
    logs = {
        run: pd.read_parquet(out(workdir, run_path(*run, "train/training_log.parquet")))
        for run in RUNS
    }
    first_losses = {run: log["loss"].iloc[0] for run, log in logs.items()}
    assert len(set(first_losses.values())) == 2  # two initialisations, one per seed...
    assert first_losses[("baseline", 0)] == first_losses[("lr_high", 0)]  # ...shared by variants
    assert len({log["loss"].iloc[-1] for log in logs.values()}) == 4  # four different runs
    untrained = {
        run: pd.read_parquet(out(workdir, run_path(*run, "probe/untrained_groups.parquet")))
        for run in RUNS
    }
    assert untrained[("baseline", 1)].equals(untrained[("lr_high", 1)])
    assert not untrained[("baseline", 0)].equals(untrained[("baseline", 1)])
    metadata = read_parquet_metadata(
        out(workdir, run_path("lr_high", 1, "train/training_log.parquet"))
    )
    assert json.loads(metadata["run"])["train"]["lr"] == 0.01
    assert json.loads(metadata["runtime"])["log_every"] == 3  # runtime keys recorded


def test_the_aggregate_equals_a_hand_computation_from_the_run_logs(workdir):
    finals = {
        run: pd.read_parquet(out(workdir, run_path(*run, "train/training_log.parquet"))).iloc[-1]
        for run in RUNS
    }
    steps = pd.read_parquet(out(workdir, "aggregate/gpt2/steps.parquet"))
    assert len(steps) == 4 * (STEPS + 1) * (len(schemas.TRAINING_LOG) - 1)
    summary = pd.read_parquet(out(workdir, "aggregate/gpt2/summary.parquet")).set_index(
        ["variant", "quantity"]
    )
    for run in RUNS:  # group means after training: on the probe's batches, not the log's
        control = pd.read_parquet(out(workdir, run_path(*run, "probe/masking_control.parquet")))
        trained = control[control["predictor"] == "trained"].set_index("group")
        finals[run] = {
            "loss": finals[run]["loss"],
            **{f"{g}_masked": trained.loc[g, "masked_mean"] for g in names.GROUP_NAMES},
        }
    t = 12.706204736174707  # Student t, 97.5% quantile, 1 degree of freedom
    for variant in ("baseline", "lr_high"):
        for quantity in ("loss", "never_used_masked", "most_common_masked"):
            a, b = (finals[(variant, seed)][quantity] for seed in (0, 1))
            mean, sd = (a + b) / 2, abs(a - b) / math.sqrt(2)
            row = summary.loc[(variant, quantity)]
            assert row["n_seeds"] == 2
            assert row["mean"] == pytest.approx(mean, rel=1e-12)
            assert row["std"] == pytest.approx(sd, rel=1e-12)
            assert row["ci_low"] == pytest.approx(mean - t * sd / math.sqrt(2), rel=1e-9)
            assert row["ci_high"] == pytest.approx(mean + t * sd / math.sqrt(2), rel=1e-9)
    differences = pd.read_parquet(out(workdir, "aggregate/gpt2/differences.parquet"))
    assert set(differences["variant"]) == {"lr_high"}
    loss = differences.set_index("quantity").loc["loss"]
    d0, d1 = (finals[("lr_high", s)]["loss"] - finals[("baseline", s)]["loss"] for s in (0, 1))
    assert loss["mean"] == pytest.approx((d0 + d1) / 2, rel=1e-12)
    assert loss["std"] == pytest.approx(abs(d0 - d1) / math.sqrt(2), rel=1e-12)
    headline = json.loads(out(workdir, "aggregate/gpt2/headline.json").read_text())
    assert headline["seeds"] == [0, 1] and headline["variants"] == ["baseline", "lr_high"]
    assert headline["final"]["lr_high"]["loss"]["mean"] == pytest.approx(
        summary.loc[("lr_high", "loss"), "mean"]
    )
    claims = pd.read_parquet(out(workdir, "aggregate/gpt2/claims.parquet"))
    assert len(claims) == 2 * len(CLAIMS)
    measures = pd.read_parquet(out(workdir, "aggregate/gpt2/measures.parquet"))
    assert measures[["variant", "seed"]].to_numpy().tolist() == [list(run) for run in RUNS]
    assert headline["claims"]["baseline"] == dict(
        claims.loc[claims["variant"] == "baseline", ["claim", "result"]].to_numpy()
    )


def test_every_job_wrote_its_log_and_benchmark(workdir):
    once = ["download_tokenizer", "select_finetune_group", "aggregate_finetune", "report"]
    logs = [f"logs/{rule}.log" for rule in once]
    logs += [
        f"logs/gpt2/{rule}.log" for rule in ("select_groups", "aggregate", "aggregate_weights")
    ]
    logs += [f"logs/{book}/download_corpus.log" for book in names.CORPORA]
    logs += [f"logs/{book}/gpt2/{rule}.log" for book in names.CORPORA for rule in BOOK_RULES[1:]]
    logs += [run_path(*run, f"logs/{rule}.log") for run in RUNS for rule in RUN_RULES]
    logs += [
        f"finetune/{arm}/seed{seed}/logs/finetune.log" for arm in names.ARMS for seed in (0, 1)
    ]
    for path in logs:
        assert out(workdir, path).stat().st_size > 0, path
        bench = pd.read_csv(
            out(workdir, path.replace("logs/", "benchmarks/").replace(".log", ".tsv")), sep="\t"
        )
        assert list(bench.columns[:3]) == ["s", "h:m:s", "max_rss"] and len(bench) == 1, path
    train_log = out(workdir, run_path("lr_high", 1, "logs/train.log")).read_text()
    assert "device: cpu, 1 threads" in train_log
    assert (
        f"run: variant lr_high, seed 1; precision: {resolve_precision('auto', 'cpu')}" in train_log
    )
    assert re.search(
        rf"step {STEPS}/{STEPS} loss \d+\.\d+ \| masked/unmasked most_common=", train_log
    )


def test_report_is_rendered_without_code(workdir):
    html = out(workdir, "report/report.html").read_text()
    assert "Claims, measured" in html and html.count("<img") == len(FIGURES)
    assert "import pandas" not in html
    counts = r"\d (?:PASS|FAIL|N/A)(?:, \d (?:FAIL|N/A))*"  # whichever way the claims fall
    tally = re.findall(rf"(baseline {counts}; lr_high {counts})", html)
    assert len(tally) == 2, tally  # in the summary, first, and under the claims table
    assert "2 seeds; means with 95% intervals" in html


def test_second_run_has_nothing_to_do(workdir):
    _, output = snakemake(workdir[0], "-n")
    assert "Nothing to be done" in output
    assert "\nplan: no training left to do\n" in output


def test_a_dry_run_plans_the_training_at_the_step_times_measured_here(workdir):
    """Every train and fine-tuning job recorded its time per steady step (one kind of step: the
    variant changes only the learning rate) and per held-out scoring (one kind for each book's
    slice); a new study of three seeds is planned with them."""
    assert (
        f"plan: 4 training runs of {STEPS} steps and 6 fine-tuning runs of {FINETUNE_STEPS} "
        "steps to do; none of their steps measured on this machine yet" in workdir[1]
    )  # the study's own run, before its first job
    times = (workdir[0] / "results" / ".step_times.tsv").read_text().splitlines()[1:]
    assert len(times) == 2 * (len(RUNS) + 3 * 2)  # the runs, then three arms of two seeds
    latest = {line.split("\t")[2]: float(line.split("\t")[3]) for line in times}
    config = yaml.safe_load((workdir[0] / "config" / "test.yaml").read_text())
    by_book = {
        json.loads(kind)["held_out"]["book"]: seconds
        for kind, seconds in latest.items()
        if '"measure"' in kind
    }
    assert len(latest) == 3 and len(by_book) == 2
    step = next(seconds for kind, seconds in latest.items() if '"measure"' not in kind)
    train = by_book[config["corpus"]["sha256"]]
    tune = by_book[config["finetune"]["corpus"]["sha256"]]
    _, output = snakemake(workdir[0], "-n", "--config", "study=e2e_more", "seeds=[0,1,2]")
    every = config["held_out"]["every"]
    total = 6 * (STEPS * step + scorings(STEPS, every) * train)
    total += 9 * (FINETUNE_STEPS * step + scorings(FINETUNE_STEPS, every) * tune)
    planned = (
        f"plan: 6 training runs of {STEPS} steps and 9 fine-tuning runs of {FINETUNE_STEPS} "
        f"steps to do, about {datetime.timedelta(seconds=round(total))} one after another at the "
        "times measured on this machine (results/.step_times.tsv)"
    )  # and, where other tests keep the cores busy, what that load adds (test_plan.py)
    assert re.search(rf"^{re.escape(planned)}(; about .* busy, as now)?$", output, re.M), output


def test_the_order_of_overlays_reruns_nothing(workdir):
    """The study's config given as two overlays (each naming the study), in either order: the
    same study, nothing to do."""
    config = yaml.safe_load((workdir[0] / "config" / "test.yaml").read_text())
    keys = [key for key in config if key != "study"]
    halves = {"first": keys[: len(keys) // 2], "second": keys[len(keys) // 2 :]}
    for name, part in halves.items():
        overlay = {"study": config["study"], **{key: config[key] for key in part}}
        (workdir[0] / "config" / f"{name}.yaml").write_text(yaml.safe_dump(overlay))
    for order in (["first", "second"], ["second", "first"]):
        files = [f"config/{name}.yaml" for name in order]
        _, output = snakemake(workdir[0], "-n", "--configfile", *files)
        assert "Nothing to be done" in output, output


def dry_run(workdir, overlay):
    """A dry run with `overlay` as an edit of the study in place (it names the study)."""
    (workdir[0] / "config" / "edit.yaml").write_text(yaml.safe_dump({"study": "e2e", **overlay}))
    _, output = snakemake(
        workdir[0], "-np", "--configfile", "config/test.yaml", "config/edit.yaml"
    )  # -p: every job listed
    return output


STUDY_RULES = [("aggregate", "", ""), ("report", "", "")]
TUNED = [("aggregate_finetune", "", "")]  # where any fine-tuning run reruns


PRETRAINED = ("pretrained", "pretrained_reset")


def tuning(seeds=(0, 1), arms=names.ARMS):
    """The fine-tuning jobs of `arms` and `seeds` (planned_jobs does not tell arms apart)."""
    return [("finetune", "", str(seed)) for arm in arms for seed in seeds] + TUNED


NEW_GROUP_JOBS = [("select_finetune_group", "", ""), *tuning()]


@pytest.mark.parametrize(
    "overlay, rerun",
    [
        (
            {**MATRIX, "variants": {"lr_high": {"train": {"lr": 0.02}}}},
            run_jobs([("lr_high", 0), ("lr_high", 1)], TRAINED),
        ),
        (
            {**MATRIX, "seeds": [0, 1, 2]},
            run_jobs([("baseline", 2), ("lr_high", 2)], RUN_RULES) + tuning([2]),
        ),
        (
            {**MATRIX, "train": {"steps": STEPS + 1}},
            run_jobs(RUNS, TRAINED) + tuning(arms=PRETRAINED),
        ),
        (
            {**MATRIX, "probe": {"batches": 3}},
            run_jobs(RUNS, ["probe_untrained", "probe_vocab", "weights"]),
        ),
        ({**MATRIX, "detector": {"seed": 5}}, run_jobs(RUNS, ["weights"])),
        (
            {**MATRIX, "groups": {"seed": 9}},
            [("select_groups", "", ""), *run_jobs(RUNS, RUN_RULES), *NEW_GROUP_JOBS],
        ),
        (
            {**MATRIX, "corpus": {"strip_gutenberg": False}},
            [("tokenize_corpus", "", ""), ("count_tokens", "", ""), ("select_groups", "", "")]
            + run_jobs(RUNS, RUN_RULES)
            + NEW_GROUP_JOBS,
        ),
        ({"finetune": {"steps": FINETUNE_STEPS + 1}}, tuning()),
    ],
    ids=[
        "one-variant",
        "a-new-seed",
        "steps",
        "probe",
        "detector",
        "groups",
        "corpus",
        "finetune-steps",
    ],
)
def test_an_experiment_edit_reruns_exactly_what_depends_on_it(workdir, overlay, rerun):
    """The report always reruns; the aggregation where a run's probe or training does, and the
    weights' aggregation where a run's weights do."""
    output = dry_run(workdir, overlay)
    rules = {rule for rule, variant, _ in rerun if variant}
    aggregate = STUDY_RULES[:1] if rules - {"weights"} else []
    aggregate += [("aggregate_weights", "", "")] if "weights" in rules else []
    assert planned_jobs(output) == sorted(rerun + aggregate + STUDY_RULES[1:])
    # the plan line counts the runs Snakemake reruns, not only those without outputs
    counted = {
        what: sum(map(int, re.findall(rf"(\d+) {what} runs? of", output)))
        for what in ("training", "fine-tuning")
    }
    assert counted == {
        "training": sum(rule == "train" for rule, _, _ in rerun),
        "fine-tuning": sum(rule == "finetune" for rule, _, _ in rerun),
    }
    assert ("\nplan: no training left to do\n" in output) == (sum(counted.values()) == 0)


@pytest.mark.parametrize(
    "runtime",
    [
        {"log_every": 1},
        {"compile": True, "compile_mode": "reduce-overhead"},
        {"compile_cache": "results/elsewhere"},
        {"train_threads": 2, "probe_threads": 2},
        {"precision": "fp32", "adamw": "loop", "checkpoint_every": 2},
        {"shared_process": True},
    ],
    ids=[
        "log_every",
        "compile",
        "compile_cache",
        "threads",
        "precision-adamw-checkpoints",
        "shared_process",
    ],
)
def test_a_runtime_key_reruns_nothing(workdir, runtime):
    output = dry_run(workdir, {**MATRIX, "runtime": runtime})
    assert "Nothing to be done" in output, output


def test_editing_a_helper_module_reruns_its_users(workdir):
    module = workdir[0] / "workflow" / "scripts" / "unused_tokens" / "training" / "probe.py"
    original, times = module.read_text(), module.stat()
    module.write_text(original + "# an edit\n")  # a new mtime alone is not enough: checksums
    try:
        _, output = snakemake(workdir[0], "-np")
    finally:
        module.write_text(original)
        os.utime(module, ns=(times.st_atime_ns, times.st_mtime_ns))
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    probe = str(ROOT / module.relative_to(workdir[0]))
    stages = [s for s in scripts if probe in helper_modules(s)]
    assert len(stages) >= 4  # the probes, training and fine-tuning, at least
    users = run_jobs(RUNS, RUN_RULES) + tuning() + [("aggregate_weights", "", "")]
    assert planned_jobs(output) == sorted(users + STUDY_RULES)
    assert "Params have changed since last execution" in output


def test_an_overlay_that_names_no_study_cannot_replace_its_results(workdir):
    (workdir[0] / "config" / "edit.yaml").write_text(yaml.safe_dump({"train": {"lr": 0.5}}))
    code, output = snakemake(
        workdir[0], "-n", "--configfile", "config/test.yaml", "config/edit.yaml", check=False
    )
    assert code != 0
    assert (
        "config/edit.yaml changes train.lr but names no study, so its results would replace "
        "those in results/e2e/: add study: <new name> to config/edit.yaml"
    ) in output
    code, output = snakemake(workdir[0], "-n", "--config", "seeds=[0]", check=False)
    assert code != 0 and "--config changes seeds but names no study" in output
    _, output = snakemake(workdir[0], "-np", "--config", "study=e2e_one_seed", "seeds=[0]")
    assert "results/e2e_one_seed/" in output


def test_bad_config_stops_before_any_job_naming_the_key(workdir):
    (workdir[0] / "config" / "edit.yaml").write_text(
        yaml.safe_dump({"variants": {"wide": {"model": {"n_embd": "wide"}}}})
    )
    code, output = snakemake(
        workdir[0], "-n", "--configfile", "config/test.yaml", "config/edit.yaml", check=False
    )
    assert code != 0
    assert "config key variants.wide.model.n_embd: 'wide' is not of type 'integer'" in output


PAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = `${loaded}/${images.length}`;
  const claims = [...document.querySelectorAll("table")].filter((t) =>
    [...t.querySelectorAll("th")].some((th) => th.textContent.trim() === "claim"));
  const verdicts = claims.flatMap((t) => [...t.querySelectorAll("td")]).filter((td) =>
    ["PASS", "FAIL", "N/A", "NOT TESTED"].includes(td.textContent.trim())).length;
  document.body.dataset.claims = String(verdicts);
  document.body.dataset.title = document.title;
  const described = images.filter((i) => i.alt && !i.alt.startsWith("No description")).length;
  document.body.dataset.alts = `${described}/${images.length}`;
  document.body.dataset.first = document.querySelector("h2").textContent.replace("¶", "").trim();
  document.body.dataset.opening = document.querySelector("p").textContent;
  const names = new Set(VARIANTS);  // the study's own variant names are names, not labels
  const headers = [...document.querySelectorAll("th")].map((th) => th.textContent.trim());
  document.body.dataset.snake = headers.filter((h) => /_/.test(h) && !names.has(h)).join(",");
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
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: the report must need none
    ]
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [binary, *flags, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=HANG_S,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_report_opens_in_a_browser_with_every_image_and_the_claims(workdir, tmp_path):
    page = tmp_path / "report.html"
    check = PAGE_CHECK.replace("VARIANTS", json.dumps(list(MATRIX["variants"])))
    page.write_text(out(workdir, "report/report.html").read_text() + check)
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    images = f"{len(FIGURES)}/{len(FIGURES)}"
    assert f'data-images="{images}"' in dom, re.findall(r"data-images=\"[^\"]*\"", dom)
    verdicts = 2 * len(CLAIMS) + 2 * 3 + 2  # the variants' claims, then the fine-tuning's
    assert f'data-claims="{verdicts}"' in dom, re.findall(r"data-claims=\"[^\"]*\"", dom)
    assert f'data-alts="{images}"' in dom, re.findall(r"data-alts=\"[^\"]*\"", dom)
    assert 'data-title="e2e: what training does to rare and never-used tokens"' in dom
    assert 'data-first="Summary"' in dom, re.findall(r"data-first=\"[^\"]*\"", dom)
    opening = html.unescape(re.search(r'data-opening="([^"]*)"', dom)[1])
    assert opening.startswith("What it shows. Untrained, every group sits at -ln V = "), opening
    assert re.search(r"\[[-+0-9.]+, [-+0-9.]+\]", opening), opening  # with its intervals
    assert re.search(r"Random windows made \d+( to \d+)? of the least common tokens", opening)
    seen = r"(on the targets seen in training|every target is a token seen in training)"
    assert re.search(seen, opening), opening  # the held-out loss split by seen targets
    assert 'data-snake=""' in dom, re.findall(r"data-snake=\"[^\"]*\"", dom)  # headers in words
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


def everyday_commands():
    """docs/running.md's everyday commands, as (arguments after `$QUICK`) lists."""
    running = (ROOT / "docs" / "running.md").read_text()
    block = running.split("## Everyday Snakemake", 1)[1].split("```bash\n", 1)[1].split("```")[0]
    lines = [line.split("  #")[0].split() for line in block.splitlines()]
    return [line[2:] for line in lines if line[:2] == [".venv/bin/snakemake", "$QUICK"]]


def test_every_everyday_command_of_the_readme_plans_on_a_finished_study(workdir):
    """Each command with this study's config for $QUICK, results/e2e for results/smoke, as a dry
    run (--report is run for real by the next test)."""
    commands = everyday_commands()
    assert len(commands) == 7 and ["--report", "report.zip"] in commands
    for args in commands:
        if args[0] == "--report":
            continue
        args = [a.replace("results/smoke/", "results/e2e/") for a in args]
        code, output = snakemake(workdir[0], "-n", *args, check=False)
        assert code == 0, (args, output)
        reruns = args[0] in ("--forcerun", "-R")  # the others find the study finished
        assert ("Nothing to be done" in output) != reruns, (args, output)


def test_snakemake_report_holds_the_figures(workdir):
    snakemake(workdir[0], "--report", "report.zip")
    with zipfile.ZipFile(workdir[0] / "report.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
    assert {f"{name}.png" for name in FIGURES} | {"report.html", "claims.html"} <= names


def test_the_aggregation_benchmark_times_a_larger_study_from_this_one(workdir, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import aggregate_study

    aggregate_study.main([str(out(workdir, "")), "--variants", "3", "--seeds", "2"])
    printed = capsys.readouterr().out
    assert (
        f"6 runs (3 variants x 2 seeds), {6 * (STEPS + 1) * len(schemas.LOG_ROW):,} rows" in printed
    )
    claim_rows = 3 * len(CLAIMS)
    assert re.search(rf"^ +\d+\.\d\d s  in all; {claim_rows} claim rows$", printed, re.MULTILINE)


def test_the_report_names_the_configured_books(workdir):
    html = out(workdir, "report/report.html").read_text()
    assert "A GPT-2-like model is trained on <em>the test book</em>" in html
    assert "Gulliver" not in html


def test_the_study_tables_print_the_studys_own_numbers(workdir, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import study_tables

    study_tables.main([str(out(workdir, ""))])
    printed = capsys.readouterr().out
    summary = pd.read_parquet(out(workdir, "aggregate/gpt2/summary.parquet"))
    values = summary.set_index(["variant", "quantity"])
    row = "| `baseline` | " + " | ".join(
        study_tables.interval(values.loc[("baseline", q)]) for q in study_tables.COLUMNS
    )
    assert row + " |" in printed.splitlines()
    for title in ("Final values", "Normaliser split", "ROC AUC", "Fine-tuning: claims"):
        assert f"#### {title}" in printed
    assert tally(pd.read_parquet(out(workdir, "aggregate/gpt2/claims.parquet"))) in printed


def test_the_gradient_scale_script_prints_every_bucket_of_the_studys_model(workdir, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import gradient_scale

    config = workdir[0] / "config" / "test.yaml"
    gradient_scale.main([str(out(workdir, "")), "--configfile", str(config), "--batches", "2"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "per-element RMS gradient of the output rows over 2 batches (median):"
    counts = pd.read_parquet(out(workdir, "data/pretrain/gpt2/frequency.parquet"))["count"]
    buckets = [
        label for label, (low, high) in COUNT_BUCKETS.items() if counts.between(low, high).any()
    ]
    for line, label in zip(printed[1:-1], buckets, strict=True):
        assert re.fullmatch(rf"  count {re.escape(f'{label:>6}')}: [0-9.e-]+ \(\d+ rows\)", line), (
            line
        )
    assert re.fullmatch(
        r"count-0 rows' first gradients: mean cosine with their mean -?[01]\.\d{5}", printed[-1]
    )


def test_the_startup_benchmark_trains_as_the_train_rule_does(workdir, tmp_path, capsys):
    """benchmarks/startup.py repeats the baseline's seed-0 train job in one process, timing each
    phase: the same training log, and a CSV row of phases that add up to its total."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import startup

    table = tmp_path / "startup.csv"
    args = ["--workdir", str(workdir[0]), "--configfile", "config/test.yaml", "--study", "e2e"]
    startup.main([*args, "--profile-steps", "1", "--out", str(table)])
    pd.testing.assert_frame_equal(
        pd.read_parquet(out(workdir, "bench/startup/training_log.parquet")),
        pd.read_parquet(out(workdir, run_path("baseline", 0, "train/training_log.parquet"))),
    )
    (row,) = pd.read_csv(table).to_dict("records")
    phases = {k: v for k, v in row.items() if k.endswith("(s)") and k != "total (s)"}
    assert list(phases)[:3] == [
        "import snakemake (s)",
        "import torch (s)",
        "import unused_tokens (s)",
    ]
    assert {"TrainStep (to device) (s)", "step 0 (s)", "save model (s)"} <= set(phases)
    assert sum(phases.values()) == pytest.approx(row["total (s)"], abs=0.01 * len(phases))
    assert row["configs"] == "config/test.yaml" and row["device"].startswith("cpu")
    assert "1 steps profiled: wall" in capsys.readouterr().out


def documented_commands():
    """Every `.venv/bin/snakemake` command of the bash blocks of the README, the docs and
    config/README.md but the everyday ones ($QUICK, tested above), continuation lines joined,
    comments dropped."""
    text = "\n".join(page.read_text() for page in PAGES)
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [
        shlex.split(line, comments=True)[1:]
        for line in lines
        if line.startswith(".venv/bin/snakemake ") and "$QUICK" not in line
    ]


def test_every_other_documented_snakemake_command_plans(tmp_path):
    """Each as a dry run in a fresh copy of the workflow, with docs/running.md's own
    config/lr.yaml."""
    running = (ROOT / "docs" / "running.md").read_text()
    lr = re.search(r"```yaml\n(# config/lr.yaml.*?)```", running, flags=re.S)[1]
    work = copy_workflow(tmp_path / "work")
    (work / "config" / "lr.yaml").write_text(lr)
    commands = documented_commands()
    assert len(commands) >= 6 and ["--configfile", "config/fast.yaml"] in commands
    env = {"UNUSED_TOKENS_ACCOUNT": "a", "UNUSED_TOKENS_PARTITION": "p"}
    env["UNUSED_TOKENS_GPU_PARTITION"] = "g"
    for args in commands:
        cmd = [sys.executable, "-m", "snakemake", "-n", *args]
        result = subprocess.run(
            cmd, cwd=work, capture_output=True, text=True, timeout=HANG_S, env={**os.environ, **env}
        )
        assert result.returncode == 0, (args, result.stdout + result.stderr)
        assert "Job stats:" in result.stdout + result.stderr, args


def test_runs_trained_by_one_shared_trainer_equal_the_rules_bit_for_bit(workdir, tmp_path):
    """runtime.shared_process: two runs of the study (another variant, another seed) trained one
    after the other by one warm trainer write the very files each run's own process wrote; the
    trainer, left waiting for a next job, ends on SIGTERM and leaves nothing behind."""
    overlay = tmp_path / "shared.yaml"
    overlay.write_text(yaml.safe_dump({"study": "e2e_shared", "runtime": {"shared_process": True}}))
    runs = (("baseline", 0), ("lr_high", 1))
    shared = workdir[0] / "results" / "e2e_shared"
    targets = [f"results/e2e_shared/{run_path(v, s, 'train/model.pt')}" for v, s in runs]
    snakemake(workdir[0], str(overlay), targets=targets, env={"TMPDIR": str(tmp_path)})
    trainers = set()
    for v, s in runs:
        alone = pq.read_table(out(workdir, run_path(v, s, "train/training_log.parquet")))
        mine = pq.read_table(shared / run_path(v, s, "train/training_log.parquet"))
        assert mine.equals(alone)
        mine_facts, alone_facts = dict(mine.schema.metadata), dict(alone.schema.metadata)
        mine_runtime, alone_runtime = (
            json.loads(m.pop(b"runtime")) for m in (mine_facts, alone_facts)
        )
        assert mine_facts.pop(b"written_as").decode().startswith("results/e2e_shared/")
        alone_facts.pop(b"written_as")
        assert mine_facts == alone_facts
        assert mine_runtime == {**alone_runtime, "shared_process": True}  # recorded, as every key
        mine = torch.load(shared / run_path(v, s, "train/model.pt"))
        theirs = torch.load(out(workdir, run_path(v, s, "train/model.pt")))
        assert (mine["config"], mine["steps"]) == (theirs["config"], theirs["steps"])
        assert mine["model"].keys() == theirs["model"].keys()
        assert all(torch.equal(mine["model"][k], theirs["model"][k]) for k in mine["model"])
        log = (shared / run_path(v, s, "logs/train.log")).read_text()
        trainers |= set(re.findall(r"in trainer process (\d+), its job (\d+)", log))
    pid = min(trainers)[0]
    assert sorted(trainers) == [(pid, "1"), (pid, "2")]  # one process, the second job warm
    os.kill(int(pid), signal.SIGTERM)
    folder = tmp_path / f"unused-tokens-trainers-{os.getuid()}"
    deadline = time.monotonic() + HANG_S
    while folder.exists():
        assert time.monotonic() < deadline, sorted(folder.rglob("*"))
        time.sleep(0.1)
