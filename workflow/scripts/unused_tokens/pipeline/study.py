"""The study and its runtime, read once from the validated config.

Experiment keys decide what is computed: the corpus, the tokenizer, the groups, the probe, the
model and training of every run (`Run`), the seeds and the variants. Runtime keys (`Runtime`)
decide only how it is run: the device, precision, threads, progress interval, saves and the
step's kernels. Stage scripts take a Run from their rule's params, so that editing an experiment
key reruns exactly the jobs it changes, and the Runtime from the config itself, so that a runtime
key reruns nothing; it is recorded in every run's metadata instead.

A run's seed s gives two independent streams, numpy's SeedSequence([s, 0]) for the weight
initialisation and SeedSequence([s, 1]) for the training windows, each as one 63-bit integer.
The probe's batches do not depend on it: every run is measured on the same text.
"""

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from .model_config import GPTConfig
from .names import BASELINE_VARIANT, GPT2
from .step_options import StepOptions

MODEL_KEYS = tuple(f.name for f in fields(GPTConfig) if f.name != "vocab_size")
INIT_STREAM, WINDOW_STREAM, FINETUNE_STREAM = 0, 1, 2


def derived_seed(seed, stream):
    """One 63-bit seed of the run seed's stream `stream` (SeedSequence([seed, stream]))."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)


def study_tokenizers(config):
    """The study's tokenizers: GPT-2's first (the tokenizer section, the one the report follows),
    then each of `tokenizers` that an overlay has not set to null."""
    return (GPT2, *(name for name, entry in config["tokenizers"].items() if entry is not None))


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    decay: str = "all"  # which parameters decay: all, or the blocks' matrices (step_options.DECAY)
    freeze_unseen: bool = False  # zero gradient on the rows of ids with count 0
    loss_weighting: str = "none"  # or inverse_frequency (frequency.inverse_frequency_weights)
    optimizer: str = "adamw"  # or sgd (step_options.OPTIMIZERS)
    momentum: float = 0.9  # SGD's momentum (AdamW ignores it)
    adam_eps: float = 1e-8  # added to the root of AdamW's second moment (SGD ignores it)


@dataclass(frozen=True)
class ProbeSettings:
    """The probe's random batches: the same for every model of the study."""

    batches: int
    batch_size: int
    seed: int


@dataclass(frozen=True)
class Run:
    """One training run: a variant of the experiment's model and training, and a seed."""

    variant: str
    seed: int
    model: dict  # the MODEL_KEYS of GPTConfig; the vocabulary comes from the tokenizer
    train: TrainSettings | None  # None where a stage does not train

    @property
    def init_seed(self):
        return derived_seed(self.seed, INIT_STREAM)

    @property
    def window_seed(self):
        return derived_seed(self.seed, WINDOW_STREAM)

    @property
    def finetune_seed(self):
        """The seed of the fine-tuning windows of the second book: the same for every arm."""
        return derived_seed(self.seed, FINETUNE_STREAM)

    def model_config(self, vocab_size):
        return GPTConfig(vocab_size=vocab_size, **self.model)

    def as_params(self, untrained=False):
        """A plain mapping, for a rule's params (Snakemake compares it to rerun on a change).

        untrained: leave out the training settings, for the stages that probe the untrained
        model (and the trained one, an input file): a training change does not rerun them.
        """
        params = asdict(self)
        if untrained:
            params["train"] = None
        return params

    @classmethod
    def from_params(cls, params):
        train = params["train"] and TrainSettings(**params["train"])
        return cls(params["variant"], params["seed"], dict(params["model"]), train)


@dataclass(frozen=True)
class Runtime:
    """How runs are executed: never part of what they compute."""

    device: str
    precision: str
    gpus: int
    train_threads: int
    probe_threads: int
    log_every: int
    cpu_limit_hours: float
    checkpoint_every: int
    fused_head: bool
    pad_vocab: int
    adamw: str
    compile: bool
    compile_mode: str
    compile_scope: str
    compile_cache: str
    shared_process: bool

    @classmethod
    def from_config(cls, config):
        return cls(**config["runtime"])

    def step_options(self, precision):
        """The train step's options, with `precision` resolved ("fp32" or "bf16")."""
        keys = ("adamw", "compile", "compile_mode", "compile_scope", "fused_head", "pad_vocab")
        return StepOptions(precision=precision, **{k: getattr(self, k) for k in keys})


@dataclass(frozen=True)
class Study:
    """The experiment's variants and seeds, from a validated config."""

    name: str
    model: dict
    train: dict
    seeds: tuple
    variants: dict  # name: overrides ({"model": {...}, "train": {...}}, either may be absent)
    finetune: dict  # the finetune section

    @classmethod
    def from_config(cls, config):
        variants = {BASELINE_VARIANT: config["variants"][BASELINE_VARIANT] or {}}
        variants.update((name, overrides or {}) for name, overrides in config["variants"].items())
        return cls(
            config["study"],
            config["model"],
            config["train"],
            tuple(config["seeds"]),
            variants,
            config["finetune"],
        )

    def run(self, variant, seed):
        """The Run of `variant` with `seed`: the experiment with the variant's overrides."""
        overrides = self.variants[variant]
        model = {**self.model, **overrides.get("model", {})}
        train = TrainSettings(**{**self.train, **overrides.get("train", {})})
        return Run(variant, int(seed), {k: model[k] for k in MODEL_KEYS}, train)

    def finetune_run(self, seed):
        """The baseline's Run with the fine-tuning's steps (the train section's other settings)."""
        run = self.run(BASELINE_VARIANT, seed)
        return replace(run, train=replace(run.train, steps=self.finetune["steps"]))

    def runs(self):
        """Every (variant, seed) of the study: the baseline first, then variants in config
        order."""
        return [(variant, seed) for variant in self.variants for seed in self.seeds]
