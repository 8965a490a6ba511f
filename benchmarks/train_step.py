"""Time the train stage's step against a plain baseline of the same model, in one process.

Variants (see workflow/scripts/unused_tokens/training/step.py): `baseline` (fp32, eager, math
attention, AdamW one parameter at a time, the full log-softmax), `pipeline` (the step the train
rule runs with the default config: bf16 where the hardware has it, the fused head on a padded
vocabulary, fused AdamW), `fast` (config/fast.yaml: torch.compile with CUDA graphs on top) and
`fast_blocks` (the same, compiled a block at a time: runtime.compile_scope blocks). Each does the
same work per step, per-step group probes included, on random batches of random tokens.

Prints, per variant: its precision, median step time, tokens/s, model FLOPs utilisation (6N +
12·L·H·Q·T FLOPs per token against a peak: on a GPU the device's dense bf16 peak; on a CPU the
matrix-product peak of the variant's precision, fp32 or bf16, measured at start-up), peak
memory, start-up time to the first step (compilation from an empty cache), the speed-up over the
baseline, and the top entries of a profile of one more step. Appends the same as rows to
benchmarks/results.csv.

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
from dataclasses import asdict, replace
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import torch  # noqa: E402
from rows import append_rows, figure, significant  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from unused_tokens.model.gpt import build_model  # noqa: E402
from unused_tokens.pipeline.model_config import GPTConfig  # noqa: E402
from unused_tokens.pipeline.step_options import (  # noqa: E402
    BASELINE,
    FAST,
    PIPELINE,
    PRECISIONS,
)
from unused_tokens.pipeline.study import TrainSettings  # noqa: E402
from unused_tokens.training.hardware import resolve_precision  # noqa: E402
from unused_tokens.training.step import TrainStep  # noqa: E402
from unused_tokens.training.train import use_compile_cache  # noqa: E402

IMPORTED = time.perf_counter()
PRESETS = {  # model config and batch size
    "default": (GPTConfig(), 16),
    "small": (GPTConfig(context=128, n_embd=256, n_head=4, n_layer=4), 16),
    "smoke": (GPTConfig(context=64, n_embd=64, n_head=4, n_layer=2), 16),
    "tiny": (GPTConfig(vocab_size=512, context=16, n_embd=32, n_head=2, n_layer=1), 4),
}
VARIANTS = {
    "baseline": BASELINE,
    "pipeline": PIPELINE,
    "fast": FAST,
    "fast_blocks": replace(FAST, compile_scope="blocks"),
}
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12}  # dense bf16, SXM parts
PEAK_PRODUCT = (4096, 768, 768)  # the CPU peak's product: a default batch through a 768-wide layer
SETTINGS = TrainSettings(steps=1, batch_size=1, lr=1e-3, weight_decay=0.01)  # lr and decay used
GROUPS = {
    "most_common": range(0, 100),
    "least_common": range(100, 200),
    "never_used": range(300, 400),
}


def flops_per_token(cfg):
    """6N + 12·L·H·Q·T, with N the parameters that multiply: not the position embedding, nor an
    untied input embedding (lookups); an output bias counted, and every layer of an adaptive
    softmax (training takes its full log_prob)."""
    with torch.device("meta"):
        bias = torch.zeros(cfg.vocab_size) if cfg.output_bias else None
        model = build_model(cfg, seed=0, output_bias=bias)
    lookups = [model.wpe.weight] + ([] if cfg.tied else [model.wte.weight])
    n = sum(p.numel() for p in model.parameters()) - sum(w.numel() for w in lookups)
    head_dim = cfg.n_embd // cfg.n_head
    return 6 * n + 12 * cfg.n_layer * cfg.n_head * head_dim * cfg.context


def cpu_product_peak(dtype, warmup_s=1.0, measure_s=2.0, repeats=(1, 20)):
    """FLOP/s of the fastest (4096 x 768) @ (768 x 768) product in `dtype`, after `warmup_s`
    seconds of the same products (CPUs take a while to reach their top clock): as many as fit in
    `measure_s` seconds, within `repeats` (at least, at most; where bf16 is emulated one product
    takes over a second)."""
    m, k, n = PEAK_PRODUCT
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    warm_until = time.perf_counter() + warmup_s
    while time.perf_counter() < warm_until:
        a @ b
    best, times, measure_until = float("inf"), 0, time.perf_counter() + measure_s
    while times < repeats[0] or (times < repeats[1] and time.perf_counter() < measure_until):
        started = time.perf_counter()
        a @ b
        best, times = min(best, time.perf_counter() - started), times + 1
    return 2 * m * k * n / best


def peaks(device):
    """{precision name: (FLOP/s, where the figure comes from)}; empty where unknown."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
        flops = next((f for key, f in PEAK_BF16_FLOPS.items() if key in name), None)
        return {p: (flops, "dense bf16 spec") for p in ("fp32", "bf16")} if flops else {}
    product = "x".join(map(str, PEAK_PRODUCT))
    return {
        name: (cpu_product_peak(dtype), f"measured {name} {product} product")
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }


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


def profile_step(step, x, y, device, top):
    """The `top` operators of one step by self time on the device: (name, seconds, share)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        step(x, y)
        synchronize(device)
    key = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events)
    return [(op_name(e.key), getattr(e, key) / 1e6, getattr(e, key) / total) for e in events[:top]]


def op_name(key):
    """The profiler's name of an operator, a compiled graph named by its hash's first letters."""
    return re.sub(r"## Call CompiledFxGraph (\w{6})\w* ##", r"compiled graph \1", key)


def time_variant(cfg, batch_size, options, device, steps, warmup, top):
    """Start-up seconds (build to end of first step), the timed steps' seconds, the profile."""
    reset_peak_memory(device)
    started = time.perf_counter()
    model = build_model(cfg, seed=0)
    step = TrainStep(model, GROUPS, SETTINGS, device, options)
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
    return startup, times, profile_step(step, x, y, device, top)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", choices=PRESETS, help="model size (default: default on CUDA, small on CPU)"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="precision of every variant but the baseline (which is fp32)",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--top", type=int, default=8, help="profile entries shown per variant")
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
    flops, peak = flops_per_token(cfg), peaks(device)
    tokens = batch_size * cfg.context
    print(f"device: {device_name}; torch {torch.__version__}")
    print(f"preset {preset}: {cfg}, batch {batch_size}")
    print(f"{flops / 1e6:.1f} MFLOP per token; imports {IMPORTED - STARTED:.1f} s")
    for name, (value, source) in peak.items():
        print(f"peak {name}: {figure(value / 1e12)} TFLOP/s ({source})")
    if not peak:
        print("peak unknown for this device: no utilisation")

    rows, baseline_rate = [], None
    for name in args.variants:
        options = VARIANTS[name]
        if name != "baseline":
            options = replace(options, precision=args.precision)
        precision = resolve_precision(options.precision, device).name
        startup, times, top = time_variant(
            cfg, batch_size, options, device, steps, args.warmup, args.top
        )
        median = statistics.median(times)
        rate = tokens / median
        baseline_rate = baseline_rate or (rate if name == "baseline" else None)
        peak_flops, peak_source = peak.get(precision, (None, ""))
        row = {
            "date": datetime.date.today().isoformat(),
            "device": device_name,
            "preset": preset,
            "variant": name,
            "options": " ".join(f"{k}={v}" for k, v in asdict(options).items()),
            "median_step_ms": round(median * 1e3, 3),
            "tokens_per_s": round(rate),
            "mfu": significant(flops * rate / peak_flops) if peak_flops else "",
            "peak_memory_mb": round(peak_memory_mb(device)),
            "startup_s": round(startup, 2),
            "speedup": round(rate / baseline_rate, 3) if baseline_rate else "",
            "precision": precision,
            "peak_tflops": significant(peak_flops / 1e12) if peak_flops else "",
            "peak_source": peak_source,
            "profile_top": "; ".join(f"{op} {share:.0%}" for op, _, share in top[:3]),
        }
        rows.append(row)
        mfu = f"{figure(100 * row['mfu'])}%" if peak_flops else "n/a"
        speedup = f"{row['speedup']:.2f}x" if baseline_rate else "n/a"
        print(
            f"{name:11s} {precision}  median {row['median_step_ms']:9.2f} ms  "
            f"{row['tokens_per_s']:>9,} tok/s  MFU {mfu:>6}  "
            f"peak mem {row['peak_memory_mb']:>6,} MB  start-up {row['startup_s']:6.2f} s  "
            f"vs baseline {speedup}"
        )
        for op, seconds, share in top:
            print(f"    {share:6.1%} {seconds * 1e3:10.1f} ms  {op}")
    append_rows(args.out, rows)


if __name__ == "__main__":
    main()
