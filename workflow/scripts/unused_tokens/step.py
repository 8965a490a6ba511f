"""One training step with its per-step probes, and the switches that only change its speed.

The pipeline's default step (PIPELINE) and the plain baseline the benchmark compares it with
(BASELINE) compute the same quantities; the options choose kernels, precision on the GPU and
compilation. Autocast applies on CUDA only; the CPU always runs fp32.
"""

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .probe import GroupProbe

ADAMW_KERNELS = {
    "default": {},  # PyTorch's choice for the device
    "loop": {"foreach": False, "fused": False},  # one parameter at a time
    "fused": {"fused": True},  # one fused kernel for all parameters
}


@dataclass(frozen=True)
class StepOptions:
    autocast: bool = True  # bf16 autocast on CUDA (the CPU always runs fp32)
    math_attention: bool = False  # force the plain attention kernel instead of the fastest
    adamw: str = "default"  # a key of ADAMW_KERNELS
    compile: bool = False  # torch.compile the model


PIPELINE = StepOptions()  # what the train rule runs with the default config
BASELINE = StepOptions(autocast=False, math_attention=True, adamw="loop")
FAST = StepOptions(adamw="fused", compile=True)


class TrainStep:
    """Forward, loss, group probes and (optionally) one AdamW update, all left on the device."""

    def __init__(self, model, groups, lr, weight_decay, device, options=PIPELINE):
        self.model = model.train().to(device)
        self.forward = torch.compile(model) if options.compile else model
        self.options, self.device = options, device
        self.probe = GroupProbe(groups, device)
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=weight_decay, **ADAMW_KERNELS[options.adamw]
        )

    def _context(self):
        stack = contextlib.ExitStack()
        if self.options.autocast and self.device == "cuda":
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        if self.options.math_attention:
            stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        return stack

    def __call__(self, x, y, update=True):
        """The step's log row: [loss, masked and unmasked mean of each group], on the device."""
        with self._context():
            log_probs = self.forward(x)
            loss = F.nll_loss(log_probs.flatten(0, 1), y.flatten())
            with torch.no_grad():
                means = self.probe.group_means(log_probs.detach(), x)
            if update:
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
        if update:
            self.optimizer.step()
        return torch.cat([loss.detach().double()[None], means.flatten()])
