"""Mean log-probability the model gives to each token group, with and without masking.

For a batch of inputs x (batch, time), the probe takes the model's log-probabilities of the
group tokens only, (batch, time, group tokens), on the device: the columns `ids` of the full
log-softmax, or what head.fused_head computes without it (as the probes of the untrained and
trained model do, in the precision they are given). "Unmasked" averages a group's
log-probabilities over every sample, position and token. "Masked" leaves out, for each sample,
the group tokens that occur anywhere in that sample's input: a model can copy a token it has
just seen, which would give common tokens a head start that has nothing to do with how the
model treats them as targets. A group the model's vocabulary does not cover (never-used ids
after vocabulary pruning) has no tokens, and its means are NaN.
"""

import logging
import math
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ..data.frequency import unigram_log_probs
from ..model.head import HeadPlan, fused_head, output_sums
from ..pipeline import schemas
from .batches import random_windows
from .progress import INTERVAL_S, hms

log = logging.getLogger(__name__)


class GroupProbe:
    """Per-token and per-group sums of log-probabilities for a fixed set of token groups."""

    def __init__(self, groups, device="cpu"):
        self.names = list(groups)
        ids = [torch.tensor(np.array(groups[name], dtype=np.int64)) for name in self.names]
        self.ids = torch.cat(ids).to(device)
        self.group_of = torch.cat(
            [torch.full((len(t),), i, dtype=torch.long) for i, t in enumerate(ids)]
        ).to(device)

    def token_sums(self, columns, inputs):
        """Per group token: masked sum, masked count, unmasked sum, unmasked count of log-probs.

        columns: the log-probabilities of the tokens `ids`, (batch, time, tokens).
        """
        B, T, _ = columns.shape
        per_sample = columns.float().sum(dim=1)  # (batch, tokens)
        keep = ~(inputs[:, :, None] == self.ids).any(dim=1)  # (batch, tokens)
        return (
            (per_sample * keep).sum(dim=0),
            keep.sum(dim=0) * T,
            per_sample.sum(dim=0),
            torch.full_like(per_sample[0], B * T),
        )

    def group_total(self, per_token):
        """Sum a per-token tensor within each group, in float64."""
        out = torch.zeros(len(self.names), dtype=torch.float64, device=per_token.device)
        return out.index_add_(0, self.group_of, per_token.double())

    def group_means(self, columns, inputs):
        """(groups, 2) tensor of [masked mean, unmasked mean] per group, left on the device."""
        masked_sum, masked_count, sum_, count = map(
            self.group_total, self.token_sums(columns, inputs)
        )
        return torch.stack([masked_sum / masked_count, sum_ / count], dim=1)


def _batches(context, tokens, settings, device):
    """The probe's seeded random batches (inputs, targets) of `context` tokens on `device`: the
    same for any model. A line says how far the probe is, at most INTERVAL_S seconds apart.

    settings: settings.ProbeSettings (batches, batch_size, seed).
    """
    generator = torch.Generator().manual_seed(settings.seed)
    started = last = time.perf_counter()
    for done in range(settings.batches):
        windows = random_windows(tokens, settings.batch_size, context, generator)
        yield (t.to(device) for t in windows)
        if time.perf_counter() - last >= INTERVAL_S:
            last = time.perf_counter()
            log.info(
                "probe: %d of %d batches in %s", done + 1, settings.batches, hms(last - started)
            )


def _columns(model, x, y, ids, plan):
    """The log-probabilities of the tokens `ids` at every position: (batch, time, len(ids)).
    The adaptive softmax has no single output matrix: its columns come from its full output."""
    if model.adaptive is not None:
        return model(x)[..., ids]
    return fused_head(model.hidden(x), model.output_weight, y, ids, plan, bias=model.bias).probes


def _tables(probe, batches, columns_of):
    """(group table, token table) of the sums of `columns_of(x, y)` over `batches`."""
    totals = None
    for x, y in batches:
        sums = probe.token_sums(columns_of(x, y), x)
        totals = sums if totals is None else [a + b for a, b in zip(totals, sums, strict=True)]
    masked_sum, masked_count, sum_, count = (t.double() for t in totals)
    total = probe.group_total
    group_table = pd.DataFrame(
        {
            "group": probe.names,
            "masked_mean": (total(masked_sum) / total(masked_count)).cpu().numpy(),
            "unmasked_mean": (total(sum_) / total(count)).cpu().numpy(),
            "masked_out_fraction": (1 - total(masked_count) / total(count)).cpu().numpy(),
        }
    )
    token_table = pd.DataFrame(
        {
            "group": [probe.names[i] for i in probe.group_of.tolist()],
            "token_id": probe.ids.cpu().numpy().astype(np.int32),
            "masked_mean": (masked_sum / masked_count).cpu().numpy(),
            "unmasked_mean": (sum_ / count).cpu().numpy(),
            "masked_out_fraction": (1 - masked_count / count).cpu().numpy(),
        }
    )
    return group_table, token_table


@torch.no_grad()
def probe_groups(model, tokens, groups, settings, precision, device="cpu"):
    """Group and per-token mean log-probabilities of `model` over the probe's random batches.

    settings: settings.ProbeSettings; precision: precision.Precision, that of the matrix products.
    Returns (group table, token table) as DataFrames with the schemas in schemas.py.
    """
    model.eval().to(device)
    probe = GroupProbe(groups, device)
    plan = HeadPlan.for_device(device, precision.dtype, vocab=model.cfg.vocab_size)

    def columns_of(x, y):
        with precision.autocast(device):
            return _columns(model, x, y, probe.ids, plan)

    batches = _batches(model.cfg.context, tokens, settings, device)
    group_table, token_table = _tables(probe, batches, columns_of)
    return group_table.assign(uniform_log_prob=-math.log(model.cfg.vocab_size)), token_table


def unigram_groups(log_probs, tokens, groups, settings, context):
    """The group and token tables (as probe_groups's) of a context-free predictor that gives
    every position the same log-probabilities `log_probs` (one per model index), on the probe's
    batches of `context` tokens: what masking does to a group's mean when nothing can be copied
    from the context."""
    probe = GroupProbe(groups)
    fixed = torch.as_tensor(log_probs, dtype=torch.float64)[probe.ids]
    batches = _batches(context, tokens, settings, "cpu")
    return _tables(probe, batches, lambda x, y: fixed.expand(*x.shape, -1))


def within_token_copying(token_table):
    """Per group (a Series): the mean over its tokens of (mean log-probability in samples whose
    input holds the token) minus (mean in samples whose input does not), over the tokens that
    are present in some samples and absent from others. Comparing each token with itself leaves
    out the selection effect of masking (which drops frequent tokens more often); a context-free
    predictor scores exactly 0. The present mean comes from a token-table row (schemas
    PROBE_TOKENS): unmasked = f * present + (1 - f) * masked, f the share masked out."""
    f = token_table["masked_out_fraction"]
    both = (f > 0) & (f < 1)
    present = (token_table["unmasked_mean"] - (1 - f) * token_table["masked_mean"]) / f
    difference = (present - token_table["masked_mean"]).where(both)
    return difference.groupby(token_table["group"], sort=False).mean()


def masking_control(model, tokens, groups, settings, precision, counts, device="cpu"):
    """The trained `model`'s group means and those of the corpus's unigram predictor (`counts`
    per model index, frequency.unigram_log_probs) on the same probe batches, with each one's
    within-token copying, one table (schemas.MASKING_CONTROL): claims.copying_effect reads what
    copying adds from it."""
    trained, trained_tokens = probe_groups(model, tokens, groups, settings, precision, device)
    unigram, unigram_tokens = unigram_groups(
        unigram_log_probs(counts), tokens, groups, settings, model.cfg.context
    )
    tables = []
    for name, table, token_table in (
        ("trained", trained, trained_tokens),
        ("unigram", unigram, unigram_tokens),
    ):
        copying = within_token_copying(token_table).reindex(table["group"]).to_numpy()
        tables.append(table.assign(predictor=name, within_token_copying=copying))
    return pd.concat(tables, ignore_index=True)[schemas.MASKING_CONTROL.names]


class VocabMeans(NamedTuple):
    """Per model index, over the probe's batches (unmasked), as float64 numpy arrays: the mean
    log-probability, the mean logit, and the mean log-probability renormalised over the ids of
    count > 0 (NaN for the others): what a model pruned to the corpus's ids would be compared
    with. The logits of an adaptive softmax, which has no single output layer, are NaN, and so
    are its renormalised means. An id's mean logit minus its mean log-probability is the
    positions' mean logsumexp, the normaliser, the same for every id."""

    log_probs: np.ndarray
    logits: np.ndarray
    within_corpus: np.ndarray


@torch.no_grad()
def vocab_means(model, tokens, settings, precision, counts, device="cpu"):
    """The VocabMeans of `model` (`counts`: the corpus count of every model index).

    The same probe settings give the same batches as probe_groups, so models are compared on
    one sample.
    """
    model.eval().to(device)
    plan = HeadPlan.for_device(device, precision.dtype, vocab=model.cfg.vocab_size)
    occurs = torch.as_tensor(np.asarray(counts) > 0, device=device)
    log_probs = torch.zeros(model.cfg.vocab_size, dtype=torch.float64, device=device)
    logits = torch.zeros_like(log_probs)
    within = torch.zeros((), dtype=torch.float64, device=device)
    for x, _ in _batches(model.cfg.context, tokens, settings, device):
        with precision.autocast(device):
            if model.adaptive is not None:
                log_probs += model(x).sum(dim=(0, 1))
                logits += np.nan
                within += np.nan
            else:
                sums = output_sums(model.hidden(x), model.output_weight, plan, model.bias, occurs)
                log_probs += sums.log_probs
                logits += sums.logits
                within += sums.within
    positions = settings.batches * settings.batch_size * model.cfg.context
    logits = (logits / positions).cpu().numpy()
    renormalised = np.where(occurs.cpu().numpy(), logits - float(within) / positions, np.nan)
    return VocabMeans((log_probs / positions).cpu().numpy(), logits, renormalised)
