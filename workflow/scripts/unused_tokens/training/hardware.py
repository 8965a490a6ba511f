"""Where a stage runs and in what precision: the device, and bf16 where it multiplies bf16 natively.

`runtime.device` picks CUDA when usable (auto), insists on it (cuda) or takes the
CPU (cpu); the probes follow it but never insist on CUDA (runs.run_context).

`auto` chooses bf16 on a CUDA device that supports it, and on a CPU with native bf16 matrix
instructions (AMX-BF16 or AVX512-BF16, as PyTorch's own CPU detection reports them) that oneDNN
may use; fp32 everywhere else, where bf16 would be emulated and slower. oneDNN, which runs
PyTorch's bf16 products on the CPU, honours ONEDNN_MAX_CPU_ISA: capped below AVX512_CORE_BF16
(`ONEDNN_MAX_CPU_ISA=AVX2`), it emulates bf16 as a CPU without those instructions does, and
`auto` takes fp32 as it would there; that is how the emulated path is tested on a machine that
has the instructions. `fp32` and `bf16` force the choice;
fp32 is the one for exact comparisons. In bf16 the matrix products (linear layers, attention, the
output layer) take bf16 inputs under autocast; LayerNorm, softmax, the loss and every sum that is
logged stay in fp32.
"""

import logging
import os
from dataclasses import dataclass

import torch

from ..pipeline.errors import PipelineError

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
NATIVE_BF16_CPU_FEATURES = ("amx_bf16", "avx512_bf16")
ISA_CAP = "ONEDNN_MAX_CPU_ISA"
ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" or "bf16"
    reason: str

    @property
    def dtype(self):
        return DTYPES[self.name]

    def autocast(self, device):
        """The context in which the model's products run in this precision on `device`."""
        return torch.autocast(device, dtype=torch.bfloat16, enabled=self.name == "bf16")

    def __str__(self):
        return f"{self.name} ({self.reason})"


def native_bf16(device):
    """(whether `device` multiplies bf16 natively, the evidence in words)."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"{name} supports bf16"
        return False, f"{name} has no native bf16"
    features = torch.cpu.get_capabilities()
    found = [f for f in NATIVE_BF16_CPU_FEATURES if features.get(f)]
    if not found:
        return False, f"this CPU has none of {', '.join(NATIVE_BF16_CPU_FEATURES)}"
    cap = os.environ.get(ISA_CAP, "").strip().upper()
    if cap in ISAS_WITHOUT_BF16:
        return (
            False,
            f"this CPU has {' and '.join(found)}, but {ISA_CAP}={cap} keeps oneDNN off them",
        )
    return True, f"this CPU has {' and '.join(found)}"


def resolve_precision(requested, device):
    """The Precision that `requested` (one of step_options.PRECISIONS) means on `device`, with
    the reason."""
    native, evidence = native_bf16(device)
    if requested == "auto":
        return Precision("bf16" if native else "fp32", f"auto: {evidence}")
    slow = "" if native or requested == "fp32" else ", emulated and slower than fp32"
    return Precision(requested, f"asked for; {evidence}{slow}")


def resolve_device(requested):
    """'cuda' if asked for (or 'auto' and usable), else 'cpu'; 'cuda' without CUDA is an error."""
    usable = torch.cuda.is_available()
    if requested == "cuda" and not usable:
        raise PipelineError(
            "runtime.device is 'cuda' but no usable CUDA device was found: "
            "set runtime.device: auto (falls back to the CPU) or cpu"
        )
    device = "cuda" if requested in ("cuda", "auto") and usable else "cpu"
    if requested == "auto" and not usable:
        log.warning("no usable CUDA device: running on the CPU (runtime.device: auto)")
    log.info("device: %s", describe_device(device))
    return device


def describe_device(device):
    """One line naming the device (and on a CPU, the threads in use)."""
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu, {torch.get_num_threads()} threads"
