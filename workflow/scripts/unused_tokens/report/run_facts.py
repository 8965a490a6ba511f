"""What identifies a study and what it cost: config hash, settings, device, durations, packages,
the workflow's commit."""

import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

import pandas as pd

from ..training.progress import hms

PACKAGES = (
    "torch",
    "tiktoken",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "matplotlib",
    "papermill",
    "nbconvert",
)


def config_hash(config):
    """Short sha256 of the study's experiment config, stable across key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def workflow_commit(directory):
    """The git commit of the workflow in `directory` (`git describe --always`), with "-dirty"
    when tracked files differ from it, or why it is unknown. Read only: `describe --dirty` would
    refresh the checkout's index, so the dirt comes from `git status` with git's optional locks
    off (the pipeline writes nothing outside results/ and .snakemake/)."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        ).stdout.strip()

    try:
        commit = git("describe", "--always")
        dirty = commit and git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git is not available)"
    if not commit:
        return "unknown (not a git checkout)"
    return f"{commit}-dirty" if dirty else commit


def study_facts(study, experiment, vocabulary, run_metadata, job_seconds, commit, rendered):
    """The study's identity: config hash, tokenizer vocabulary, seeds, variants, model, training,
    where it ran, the workflow's commit, when the report was rendered and the time all its jobs
    took.

    experiment: the config without its runtime section; vocabulary: the encoding's name in the
    counts' metadata ("gpt2" only for tiktoken's own files); run_metadata: the Parquet metadata of
    one run's training log (device, host CPU, precision, runtime, torch version); job_seconds:
    the sum of every job's wall time (durations); rendered: the date and time as text.
    """
    model, train = experiment["model"], experiment["train"]
    variants = ", ".join(
        f"{name} ({json.dumps(overrides, sort_keys=True) if overrides else 'the experiment'})"
        for name, overrides in experiment["variants"].items()
    )
    return pd.Series(
        {
            "study": study,
            "config hash": config_hash(experiment),
            "tokenizer vocabulary": "gpt2 (tiktoken's own files)"
            if vocabulary == "gpt2"
            else f"{vocabulary}: not tiktoken's gpt2 files",
            "seeds": f"{len(experiment['seeds'])} ({', '.join(map(str, experiment['seeds']))})",
            "variants": variants,
            "model": ", ".join(f"{k}={v}" for k, v in model.items()),
            "training": f"{train['steps']} steps, batch {train['batch_size']}, lr {train['lr']}, "
            f"weight decay {train['weight_decay']}",
            "groups and probe seeds": f"{experiment['groups']['seed']}, "
            f"{experiment['probe']['seed']}",
            "device": run_metadata.get("device", "unknown"),
            "host CPU": run_metadata.get("host_cpu", "unknown"),
            "precision": run_metadata.get("precision", "unknown"),
            "runtime": run_metadata.get("runtime", "unknown"),
            "torch": run_metadata.get("torch_version", "unknown"),
            "workflow commit": commit,
            "report rendered": rendered,
            "time of all jobs": f"{hms(job_seconds)} (summed: jobs side by side count each)",
        },
        name="",
    ).to_frame()


def input_facts(book, corpus_record, tokenizer_records):
    """Where the study's inputs came from, by their provenance files: the book (its title
    `book` and download_corpus's record) and each tokenizer's files ({name: record}, GPT-2's a
    record per file, as download_tokenizer writes it), each as its sha256, size and source."""

    def line(record):
        return f"{record['bytes']:,} bytes, sha256 {record['sha256']}, from {record['source']}"

    files = []
    for name, record in tokenizer_records.items():
        named = record if "sha256" not in record else {"file": record}
        files += [f"{name} {file}: {line(each)}" for file, each in named.items()]
    return pd.Series(
        {"book": f"{book}: {line(corpus_record)}", "tokenizer files": "\n".join(files)}, name=""
    ).to_frame()


def durations(benchmarks):
    """Jobs, total wall time and largest peak memory of each rule, from Snakemake's benchmark
    files (a rule's file is benchmarks/<rule>.tsv in its job's folder)."""
    rows = []
    for path in benchmarks:
        bench = pd.read_csv(path, sep="\t").iloc[0]
        rows.append((Path(path).stem, float(bench["s"]), float(bench["max_rss"])))
    table = pd.DataFrame(rows, columns=["rule", "seconds", "peak memory (MB)"])
    return (
        table.groupby("rule", sort=False)
        .agg(
            jobs=("seconds", "size"),
            seconds=("seconds", "sum"),
            **{"peak memory (MB)": ("peak memory (MB)", "max")},
        )
        .reset_index()
    )


def package_versions():
    """Installed versions of the packages the results depend on."""
    return pd.DataFrame(
        {"package": PACKAGES, "version": [importlib.metadata.version(p) for p in PACKAGES]}
    )


def shown(facts):
    """The facts as a two-column table for the report: every value whole, wrapped, never cut
    short with an ellipsis as pandas' own display of a long value is."""
    table = facts.iloc[:, 0].rename_axis("fact").reset_index(name="value")
    return (
        table.style.hide(axis="index")
        .format(escape="html")
        .set_properties(
            **{"text-align": "left", "white-space": "pre-wrap", "word-break": "break-word"}
        )
    )
