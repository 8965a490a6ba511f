"""Where a train job's seconds go, phase by phase from process start; a step's, kernel by kernel.

Does in one fresh process what the train rule does for one run (the baseline, seed 0) of a study
whose data stages have run (`snakemake --until select_groups`): the imports (snakemake's
included, as the rule's script pays them), run_context's inputs, the untrained model, the
TrainStep, every step with its first four timed one by one, the last step without update, and
the written outputs (to results/<study>/bench/startup/). Prints each phase's seconds; with
torch.compile, its own breakdown (dynamo's compile_times) and the top of a cProfile of the first
step; then the kernels that take most device time over a few more steps (the table's footer
holds their total) and the wall time per step. Appends the phases' seconds as a row to
benchmarks/startup.csv. The configs are the user's; the environment (TORCHINDUCTOR_*) too.

    .venv/bin/python benchmarks/startup.py --configfile config/offline.yaml config/fast.yaml \
        --study S
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import snakemake.script  # noqa: E402, F401  (the rule's script imports it to unpickle its job)
import yaml  # noqa: E402

IMPORTED_SNAKEMAKE = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from rows import append_rows  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

IMPORTED_TORCH = time.perf_counter()

from unused_tokens.model.gpt import save_model  # noqa: E402
from unused_tokens.pipeline import schemas  # noqa: E402
from unused_tokens.pipeline.config import _merged  # noqa: E402
from unused_tokens.pipeline.files import write_parquet  # noqa: E402
from unused_tokens.pipeline.study import Study  # noqa: E402
from unused_tokens.training.batches import random_windows, to_device  # noqa: E402
from unused_tokens.training.hardware import describe_device  # noqa: E402
from unused_tokens.training.run_context import run_context  # noqa: E402
from unused_tokens.training.step import TrainStep  # noqa: E402
from unused_tokens.training.train import use_compile_cache  # noqa: E402

IMPORTED = time.perf_counter()


class Clock:
    """Seconds of each phase, printed as it ends."""

    def __init__(self):
        self.last = STARTED
        self.phases = {}

    def lap(self, phase, device=None, now=None):
        if device == "cuda":
            torch.cuda.synchronize()
        now = now or time.perf_counter()
        self.phases[phase] = now - self.last
        print(f"{phase:<36} {now - self.last:8.2f} s   (at {now - STARTED:6.2f} s)", flush=True)
        self.last = now


def study_config(workdir, configfiles):
    """The merged config (config/config.yaml, then the overlays in order)."""
    config = {}
    for path in ["config/config.yaml", *configfiles]:
        config = _merged(config, yaml.safe_load((workdir / path).read_text()))
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT, help="where the workflow is")
    parser.add_argument("--configfile", nargs="+", default=[], help="config overlays, in order")
    parser.add_argument("--study", required=True, help="a study whose data stages have run")
    parser.add_argument("--profile-steps", type=int, default=5, help="steps in the kernel profile")
    parser.add_argument("--top", type=int, default=25, help="entries shown in each profile")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "startup.csv")
    args = parser.parse_args(argv)

    clock = Clock()
    environment = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if "INDUCTOR" in k)
    clock.lap("import snakemake", now=IMPORTED_SNAKEMAKE)
    clock.lap("import torch", now=IMPORTED_TORCH)
    clock.lap("import unused_tokens", now=IMPORTED)
    config = {**study_config(args.workdir, args.configfile), "study": args.study}
    data = args.workdir / "results" / args.study / "data"
    run = Study.from_config(config).run("baseline", 0)
    job = SimpleNamespace(
        threads=config["runtime"]["train_threads"],
        params=SimpleNamespace(run=run.as_params()),
        config=config,
        input=SimpleNamespace(
            frequency=data / "pretrain" / "gpt2" / "frequency.parquet",
            tokens=data / "pretrain" / "gpt2" / "tokens.parquet",
        ),
    )
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    context = run_context(job, logging.getLogger("startup"))
    runtime, device = context.runtime, context.device
    use_compile_cache(args.workdir / runtime.compile_cache)
    clock.lap("inputs (run_context)", device)
    model = context.untrained_model()
    clock.lap("untrained model", device)
    if device == "cuda":
        torch.zeros(1, device=device)  # an allocation creates the context
        clock.lap("CUDA context", device)
    options = runtime.step_options(context.precision.name)
    if options.compile:
        # what torch.compile imports at its first call
        importlib.import_module("torch._inductor.compile_fx")
        clock.lap("import torch._inductor")
    setup = cProfile.Profile()
    setup.enable()
    step = TrainStep(
        model, context.groups(data / "groups" / "gpt2.parquet"), run.train, device, options
    )
    setup.disable()
    clock.lap("TrainStep (to device)", device)
    slice_path = data / "pretrain" / "gpt2" / "held_out.parquet"
    held_out = context.held_out(slice_path, config["held_out"], np.flatnonzero(context.counts == 0))
    clock.lap("held-out slice (to device)", device)
    generator = torch.Generator().manual_seed(run.window_seed)
    steps = run.train.steps

    unscored = torch.full((3,), torch.nan, dtype=torch.float64, device=device)

    def batch():
        windows = random_windows(context.tokens, run.train.batch_size, model.cfg.context, generator)
        return [to_device(t, device) for t in windows]

    def logged(i):
        """Step i's log row, as train.train writes it (held-out values NaN where not scored)."""
        due = held_out is not None and held_out.due(i, steps)
        scored = held_out.losses(step) if due else unscored
        return torch.cat([step(*batch(), update=i < steps), scored])

    rows = []
    profiler = cProfile.Profile()
    profiler.enable()
    rows.append(logged(0))
    clock.lap("step 0", device)
    profiler.disable()
    for i in (1, 2, 3):
        rows.append(logged(i))
        clock.lap(f"step {i}", device)
    for i in range(4, steps):
        rows.append(logged(i))
    clock.lap("steps 4 to the last update", device)
    per_step = clock.phases["steps 4 to the last update"] / (steps - 4)
    rows.append(logged(steps))
    clock.lap("last step (no update, eager)", device)
    out = args.workdir / "results" / args.study / "bench" / "startup"
    out.mkdir(parents=True, exist_ok=True)
    table = torch.stack(rows).cpu().numpy()
    clock.lap("log rows to the host")
    frame = pd.DataFrame(table, columns=schemas.LOG_ROW)
    frame.insert(0, "step", range(len(frame)))
    write_parquet(frame, out / "training_log.parquet", schemas.TRAINING_LOG, context.metadata())
    clock.lap("write training log")
    save_model(model, out / "model.pt", steps)
    clock.lap("save model")
    total = time.perf_counter() - STARTED
    print(f"{'total':<36} {total:8.2f} s; steady step {per_step * 1e3:.2f} ms")
    print(f"final loss {table[-1, 0]:.4f}")

    if options.compile:
        print("\n== torch.compile's own breakdown (dynamo compile_times)")
        print(torch._dynamo.utils.compile_times(repr="str"))
    for name, stats in (("TrainStep", setup), ("step 0", profiler)):
        print(f"\n== cProfile of {name}, by cumulative time")
        text = io.StringIO()
        pstats.Stats(stats, stream=text).sort_stats("cumulative").print_stats(args.top)
        print(text.getvalue()[-12000:])

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    x, y = batch()
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        for _ in range(args.profile_steps):
            step(x, y)
        if device == "cuda":
            torch.cuda.synchronize()
        wall = (time.perf_counter() - started) / args.profile_steps
    key = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    print(f"\n== {args.profile_steps} steps profiled: wall {wall * 1e3:.2f} ms per step")
    print(prof.key_averages().table(sort_by=key, row_limit=args.top, max_name_column_width=90))
    append_rows(
        args.out,
        [
            {
                "date": datetime.date.today().isoformat(),
                "device": describe_device(device),
                "configs": " ".join(args.configfile),
                "environment": environment,
                **{f"{phase} (s)": round(seconds, 2) for phase, seconds in clock.phases.items()},
                "total (s)": round(total, 2),
                "steady step (ms)": round(per_step * 1e3, 2),
            }
        ],
    )


if __name__ == "__main__":
    main()
