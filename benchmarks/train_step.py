"""Time the train stage's step against a plain baseline of the same model, in one process.

Variants (see workflow/scripts/unused_tokens/step.py): `baseline` (fp32, eager, math attention,
AdamW one parameter at a time, the full log-softmax), `pipeline` (the step the train rule runs
with the default config: the fused head on a padded vocabulary, and on CUDA bf16 autocast and
the fastest attention kernel) and `fast` (config/fast.yaml: fused AdamW and torch.compile with
CUDA graphs on top). Each does the same work per step, per-step group probes included, on
random batches of random tokens. Prints, per variant: median step time, tokens/s, model FLOPs
utilisation (6N + 12·L·H·Q·T FLOPs per token against the device's dense bf16 peak, where
known), peak memory, start-up time to the first step (compilation from an empty cache) and the
speed-up over the baseline; appends the same as rows to benchmarks/results.csv.

    .venv/bin/python benchmarks/train_step.py                  # default model on CUDA, small on CPU
    .venv/bin/python benchmarks/train_step.py --preset smoke --steps 10
"""

import argparse
import datetime
import re
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import torch  # noqa: E402
from rows import append_rows  # noqa: E402

from unused_tokens.model import GPTConfig, build_model  # noqa: E402
from unused_tokens.step import BASELINE, FAST, PIPELINE, TrainStep  # noqa: E402
from unused_tokens.train import use_compile_cache  # noqa: E402

IMPORTED = time.perf_counter()
PRESETS = {  # model config and batch size
    "default": (GPTConfig(), 16),
    "small": (GPTConfig(context=128, n_embd=256, n_head=4, n_layer=4), 16),
    "smoke": (GPTConfig(context=64, n_embd=64, n_head=4, n_layer=2), 16),
    "tiny": (GPTConfig(vocab_size=512, context=16, n_embd=32, n_head=2, n_layer=1), 4),
}
VARIANTS = {"baseline": BASELINE, "pipeline": PIPELINE, "fast": FAST}
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12}  # dense bf16, SXM parts
GROUPS = {
    "most_common": range(0, 100),
    "least_common": range(100, 200),
    "never_used": range(300, 400),
}


def flops_per_token(cfg):
    """6N + 12·L·H·Q·T, with N the parameters without the position embedding."""
    with torch.device("meta"):
        model = build_model(cfg, seed=0)
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    head_dim = cfg.n_embd // cfg.n_head
    return 6 * n + 12 * cfg.n_layer * cfg.n_head * head_dim * cfg.context


def peak_flops(device):
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


PROC = Path("/proc/self")  # Linux: the process's peak resident memory can be reset


def reset_peak_memory(device):
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    elif (PROC / "clear_refs").exists():
        (PROC / "clear_refs").write_text("5")


def peak_memory_mb(device):
    """Peak device memory on CUDA; on a CPU, the process's peak resident memory since the reset."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    if (PROC / "status").exists():
        return int(re.search(r"VmHWM:\s+(\d+) kB", (PROC / "status").read_text())[1]) / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # since the start


def time_variant(cfg, batch_size, options, device, steps, warmup):
    """Start-up seconds (build to end of first step) and the timed steps' seconds."""
    reset_peak_memory(device)
    started = time.perf_counter()
    model = build_model(cfg, seed=0)
    step = TrainStep(model, GROUPS, 1e-3, 0.01, device, options)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(cfg.vocab_size, (batch_size, cfg.context + 1), generator=generator)
    x, y = batch[:, :-1].to(device), batch[:, 1:].to(device)
    step(x, y)
    synchronize(device)
    startup = time.perf_counter() - started
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step(x, y)
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return startup, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", choices=PRESETS, help="model size (default: default on CUDA, small on CPU)"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.csv")
    args = parser.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(args.threads)
    use_compile_cache(tempfile.mkdtemp(prefix="torch-compile-"))  # start-up: compiled from cold
    preset = args.preset or ("default" if device == "cuda" else "small")
    steps = args.steps or (50 if device == "cuda" else 5)
    cfg, batch_size = PRESETS[preset]
    device_name = (
        torch.cuda.get_device_name() if device == "cuda" else f"cpu ({args.threads} threads)"
    )
    flops, peak = flops_per_token(cfg), peak_flops(device)
    tokens = batch_size * cfg.context
    print(f"device: {device_name}; torch {torch.__version__}")
    print(f"preset {preset}: {cfg}, batch {batch_size}")
    peak_text = f"{peak / 1e12:.0f} TFLOP/s dense bf16" if peak else "unknown for this device"
    print(
        f"{flops / 1e6:.1f} MFLOP per token; peak {peak_text}; imports {IMPORTED - STARTED:.1f} s"
    )

    rows, baseline_rate = [], None
    for name in args.variants:
        startup, times = time_variant(cfg, batch_size, VARIANTS[name], device, steps, args.warmup)
        median = statistics.median(times)
        rate = tokens / median
        baseline_rate = baseline_rate or (rate if name == "baseline" else None)
        row = {
            "date": datetime.date.today().isoformat(),
            "device": device_name,
            "preset": preset,
            "variant": name,
            "options": " ".join(f"{k}={v}" for k, v in asdict(VARIANTS[name]).items()),
            "median_step_ms": round(median * 1e3, 3),
            "tokens_per_s": round(rate),
            "mfu": round(flops * rate / peak, 4) if peak else "",
            "peak_memory_mb": round(peak_memory_mb(device)),
            "startup_s": round(startup, 2),
            "speedup": round(rate / baseline_rate, 3) if baseline_rate else "",
        }
        rows.append(row)
        mfu = f"{row['mfu']:.1%}" if peak else "n/a"
        speedup = f"{row['speedup']:.2f}x" if baseline_rate else "n/a"
        print(
            f"{name:9s} median {row['median_step_ms']:9.2f} ms  {row['tokens_per_s']:>9,} tok/s  "
            f"MFU {mfu:>6}  peak mem {row['peak_memory_mb']:>6,} MB  "
            f"start-up {row['startup_s']:6.2f} s  vs baseline {speedup}"
        )
    append_rows(args.out, rows)


if __name__ == "__main__":
    main()
