"""The switches of a training step as a plain value, without torch: what the runtime config is
checked against and the rule layer reads (step.py runs the step they describe).

The options choose kernels, the precision of the matrix products, the fused output layer and
compilation, never what is computed. PIPELINE is the default config's step, BASELINE the plain
step the benchmark compares it with, FAST config/fast.yaml's. DECAY names which parameters
the optimizer's weight decay reaches and OPTIMIZERS the optimizers a run may use (train keys,
so they do change what is computed).
"""

from dataclasses import dataclass, replace

PRECISIONS = ("auto", "fp32", "bf16")  # hardware.py says what auto means on a device
ADAMW_KERNELS = {  # the optimizer's kernel (AdamW's or SGD's: both take these switches)
    "default": {},  # PyTorch's choice for the device
    "loop": {"foreach": False, "fused": False},  # one parameter at a time
    "fused": {"fused": True},  # one fused kernel for all parameters
}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILE_SCOPES = ("model", "blocks")  # one graph of the whole body, or one per block


@dataclass(frozen=True)
class StepOptions:
    precision: str = "auto"  # one of PRECISIONS
    math_attention: bool = False  # force the plain attention kernel instead of the fastest
    adamw: str = "default"  # a key of ADAMW_KERNELS
    compile: bool = False  # torch.compile the model; with fused_head, its body and the head's
    # elementwise work, while the head's matrix products stay eager
    compile_mode: str = "default"  # torch.compile's mode; "reduce-overhead" adds CUDA graphs
    compile_scope: str = "model"  # "blocks": compile each transformer block on its own; the
    # blocks share one compiled graph, so compiling from an empty cache takes one block's time
    fused_head: bool = False  # loss and probes from head.fused_head, no full log-softmax
    pad_vocab: int = 1  # the fused head pads the output matrix to a multiple of this many rows

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not one of {PRECISIONS}")
        if self.adamw not in ADAMW_KERNELS:
            raise ValueError(f"adamw={self.adamw!r} is not one of {list(ADAMW_KERNELS)}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode={self.compile_mode!r} is not one of {COMPILE_MODES}")
        if self.compile_scope not in COMPILE_SCOPES:
            raise ValueError(f"compile_scope={self.compile_scope!r} is not one of {COMPILE_SCOPES}")
        if self.pad_vocab < 1 or (self.pad_vocab > 1 and not self.fused_head):
            raise ValueError(f"pad_vocab={self.pad_vocab} needs fused_head and must be >= 1")


PIPELINE = StepOptions(adamw="fused", fused_head=True, pad_vocab=64)  # the default config's
BASELINE = StepOptions(precision="fp32", math_attention=True, adamw="loop")
FAST = replace(PIPELINE, compile=True, compile_mode="reduce-overhead")  # config/fast.yaml
DECAY = ("all", "matrices")
OPTIMIZERS = ("adamw", "sgd")  # AdamW (decoupled decay), or SGD with momentum (decay as L2)
