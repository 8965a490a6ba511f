"""What identifies a study and what it cost: config hash, settings, device, durations, packages."""

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pandas as pd

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


def study_facts(study, experiment, run_metadata):
    """The study's identity: config hash, seeds, variants, model, training, where it ran.

    experiment: the config without its runtime section; run_metadata: the Parquet metadata of
    one run's training log (device, precision, runtime, torch version).
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
            "seeds": ", ".join(map(str, experiment["seeds"])),
            "variants": variants,
            "model": ", ".join(f"{k}={v}" for k, v in model.items()),
            "training": f"{train['steps']} steps, batch {train['batch_size']}, lr {train['lr']}, "
            f"weight decay {train['weight_decay']}",
            "groups and probe seeds": f"{experiment['groups']['seed']}, "
            f"{experiment['probe']['seed']}",
            "device": run_metadata.get("device", "unknown"),
            "precision": run_metadata.get("precision", "unknown"),
            "runtime": run_metadata.get("runtime", "unknown"),
            "torch": run_metadata.get("torch_version", "unknown"),
        },
        name="",
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
