"""What the stages of one run (untrained probe, training, vocabulary probe) start from.

Each reads its Run from the rule's params, the Runtime from the config, sets its threads,
resolves its device and the precision there, and loads the corpus; run_context does this once for
all three, and metadata() is what each writes beside its results.
"""

import json
from dataclasses import asdict, dataclass

import torch

from .files import read_parquet_metadata
from .hardware import Precision, describe_device, resolve_device, resolve_precision
from .model import build_model
from .settings import Run, Runtime
from .tokens import read_tokens


@dataclass(frozen=True)
class RunContext:
    run: Run
    runtime: Runtime
    device: str  # "cpu" or "cuda"
    precision: Precision
    tokens: torch.Tensor  # the corpus's token ids
    n_vocab: int

    def untrained_model(self):
        """The run's freshly initialised model (its seed's initialisation stream)."""
        return build_model(self.run.model_config(self.n_vocab), self.run.init_seed)

    def metadata(self):
        """Parquet metadata of the run's outputs: run, device, precision, runtime, torch."""
        return {
            "run": json.dumps(self.run.as_params(), sort_keys=True),
            "device": describe_device(self.device),
            "precision": str(self.precision),
            "runtime": json.dumps(asdict(self.runtime), sort_keys=True),
            "torch_version": torch.__version__,
        }


def run_context(snakemake, log, device=None):
    """The RunContext of a run stage on `device` (None: runtime.device's choice); logs it."""
    torch.set_num_threads(snakemake.threads)
    run = Run.from_params(snakemake.params.run)
    runtime = Runtime.from_config(snakemake.config)
    device = device or resolve_device(runtime.device)
    precision = resolve_precision(runtime.precision, device)
    log.info("run: variant %s, seed %d; precision: %s", run.variant, run.seed, precision)
    tokens = torch.from_numpy(read_tokens(snakemake.input.tokens))
    n_vocab = int(read_parquet_metadata(snakemake.input.tokens)["n_vocab"])
    return RunContext(run, runtime, device, precision, tokens, n_vocab)
