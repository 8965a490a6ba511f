"""The model's shape as a plain value, without torch: what the config is checked against and the
rule layer reads (model.py builds the network from it).

GPTConfig's fields are the config's `model` keys but vocab_size, which the tokenizer (or, for a
pruned vocabulary, the corpus) gives. `head` is the output layer: one softmax over the whole
vocabulary, or PyTorch's adaptive softmax over frequency-ordered indices, whose clusters start at
ADAPTIVE_CUTOFFS and narrow by ADAPTIVE_DIV.
"""

from dataclasses import dataclass

HEADS = ("softmax", "adaptive")
ADAPTIVE_CUTOFFS = (2_000, 10_000)  # frequency ranks where the adaptive softmax's clusters start
ADAPTIVE_DIV = 4.0  # each tail cluster's projection is this many times narrower than the last
ADAPTIVE_NEEDS = (  # what model.head: adaptive asks of the other model keys
    "has output layers of its own, without a bias: set tied: false and output_bias: false"
)


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50257
    context: int = 256
    n_embd: int = 768
    n_head: int = 12
    n_layer: int = 12
    tied: bool = True  # the output layer is the input embedding (one Parameter)
    output_bias: bool = False  # the output layer has a bias (see build_model)
    vocabulary: str = "full"  # full or corpus: the ids the output covers (vocabulary.py)
    head: str = "softmax"  # softmax (one matrix) or adaptive (AdaptiveLogSoftmaxWithLoss)

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_head={self.n_head} must divide model.n_embd={self.n_embd}")
        if self.head not in HEADS:
            raise ValueError(f"model.head={self.head!r} is not one of {HEADS}")
        if self.head == "adaptive" and (self.tied or self.output_bias):
            raise ValueError(f"model.head: adaptive {ADAPTIVE_NEEDS}")

    @property
    def cutoffs(self):
        """The adaptive softmax's cluster boundaries: ADAPTIVE_CUTOFFS below the vocabulary
        size, or one boundary at half of a smaller vocabulary."""
        return [c for c in ADAPTIVE_CUTOFFS if c < self.vocab_size - 1] or [self.vocab_size // 2]
