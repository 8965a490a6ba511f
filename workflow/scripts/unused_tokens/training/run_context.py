"""What the stages of one run (untrained probe, training, vocabulary probe) start from.

Each reads its Run from the rule's params, the Runtime from the config, sets its threads,
resolves its device and the precision there, and loads the corpus and its counts in the model's
vocabulary (vocabulary.py); run_context does this once for all three, and metadata() is what
each writes beside its results.
"""

import json
import logging
from dataclasses import asdict, dataclass

import pandas as pd
import torch

from ..data.frequency import unigram_log_probs
from ..data.groups import read_groups
from ..data.tokens import read_tokens
from ..model.gpt import build_model
from ..model.vocabulary import Vocabulary
from ..pipeline.names import GPT2
from ..pipeline.plan import STEP_TIMES, host_cpu, record_step_time, run_kinds
from ..pipeline.study import Run, Runtime
from .hardware import Precision, describe_device, resolve_device, resolve_precision
from .held_out import HeldOut, Scoring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    run: Run
    runtime: Runtime
    device: str  # "cpu" or "cuda"
    precision: Precision
    vocabulary: Vocabulary  # the ids the model's output covers, in its order
    tokens: torch.Tensor  # the corpus as model indices (vocabulary.encode)

    @property
    def counts(self):
        """The corpus count of every model index."""
        return self.vocabulary.counts

    def groups(self, path):
        """The groups file's {name: tokenizer ids} as model indices; an id the model does not
        cover (a never-used id in a pruned vocabulary) is left out of its group."""
        return self.vocabulary.encode_groups(read_groups(path))

    def untrained_model(self):
        """The run's freshly initialised model (its seed's initialisation stream); an output
        bias starts at the corpus's log unigram probabilities."""
        cfg = self.run.model_config(len(self.counts))
        bias = unigram_log_probs(self.counts) if cfg.output_bias else None
        return build_model(cfg, self.run.init_seed, bias)

    def held_out(self, path, held_out, split_ids):
        """held_out.HeldOut of the slice in `path` (tokens.parquet's schema), cut into the model's
        windows and the training's batch size, scored as the config's `held_out` section says
        and split by `split_ids` (model indices);
        None where the model's vocabulary has no index for some of its ids (a pruned vocabulary
        cannot read text it was not built from)."""
        ids = torch.from_numpy(read_tokens(path))
        if (torch.from_numpy(self.vocabulary.index)[ids] < 0).any():
            return None
        tokens = self.vocabulary.encode(ids)
        context, batch_size = self.run.model["context"], self.run.train.batch_size
        scoring = Scoring.from_config(held_out)
        return HeldOut(tokens, context, batch_size, scoring, self.device, split_ids)

    def step_time_recorder(self, held_out, book_sha256, tokenizer=GPT2):
        """What train() records its seconds per steady step and per held-out scoring with, keyed
        by this run's kind of step (with `tokenizer`'s vocabulary) and its slice (of the book
        `book_sha256`, scored as the config's `held_out` section says), for the plan of later
        studies (pipeline/plan.py)."""
        runtime = asdict(self.runtime)
        kind, scoring = run_kinds(self.run, runtime, held_out, book_sha256, tokenizer)

        def record(per_step, per_scoring):
            try:
                record_step_time(per_step, kind)
                if per_scoring is not None:
                    record_step_time(per_scoring, scoring)
            except OSError as err:  # a side file: training goes on without it
                log.warning(
                    "the step time is not recorded in %s (%s); remove or fix it for the plans "
                    "of later studies",
                    STEP_TIMES,
                    err.strerror or err,
                )

        return record

    def metadata(self):
        """Parquet metadata of the run's outputs: run, device, host CPU, precision, runtime,
        torch."""
        return {
            "run": json.dumps(self.run.as_params(), sort_keys=True),
            "device": describe_device(self.device),
            "host_cpu": host_cpu(),
            "precision": str(self.precision),
            "runtime": json.dumps(asdict(self.runtime), sort_keys=True),
            "torch_version": torch.__version__,
        }


def run_context(snakemake, log, probe=False):
    """The RunContext of a run stage, on runtime.device's choice; logs it. A probe (`probe`)
    takes CUDA where usable unless runtime.device is cpu, but never insists on it: it is small
    enough to share the GPU with a training job, and on a cluster it runs on a CPU node."""
    torch.set_num_threads(snakemake.threads)
    run = Run.from_params(snakemake.params.run)
    runtime = Runtime.from_config(snakemake.config)
    device = resolve_device("auto" if probe and runtime.device == "cuda" else runtime.device)
    precision = resolve_precision(runtime.precision, device)
    log.info("run: variant %s, seed %d; precision: %s", run.variant, run.seed, precision)
    counts = pd.read_parquet(snakemake.input.frequency)["count"].to_numpy()
    model = run.model_config(len(counts))
    vocabulary = Vocabulary.of(counts, model.vocabulary, by_frequency=model.head == "adaptive")
    log.info(
        "vocabulary: %d of %d ids (model.vocabulary: %s)",
        len(vocabulary.ids),
        len(counts),
        model.vocabulary,
    )
    tokens = vocabulary.encode(torch.from_numpy(read_tokens(snakemake.input.tokens)))
    return RunContext(run, runtime, device, precision, vocabulary, tokens)
