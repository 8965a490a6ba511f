"""How much the choice of a group's members moves its result.

The least common group is the lowest ids among the tokens seen least often, and the never-used
group one seeded draw of the ids never seen: which ids they hold is a choice the intervals over
seeds do not cover. For one trained run, `draw_spread` redraws each group many times from the
ids eligible for it (never-used: count 0; least common: seen at least once and no more often
than its members) and recomputes the group's change in training from the vocabulary probe's
per-id means (unmasked: the same as masked for ids that never occur, and nearly so for ids seen
once). The standard deviation over draws is the spread a different draw alone would bring, to be
set beside the spread over seeds.
"""

import numpy as np

from ..pipeline import schemas
from .aggregate import mean_or_nan
from .claims import member_ids

DRAWS = 200  # random draws of each group per run
DRAW_SEED = 0


def draw_spread(vocab_logprobs, counts, targets, draws=DRAWS):
    """{name: value} in schemas.DRAW_MEASURES's order for one run: the standard deviation over
    `draws` random draws of the least common group's change, of the never-used group's and of
    their difference (never-used minus least common). `targets` (the training log's
    group_targets) gives the groups' members; `counts`: every id's count in the training text."""
    counts = np.asarray(counts)
    change = (vocab_logprobs["trained_mean"] - vocab_logprobs["untrained_mean"]).to_numpy()
    least, never = (member_ids(targets, group) for group in ("least_common", "never_used"))
    pools = {
        "least_common": np.flatnonzero((counts > 0) & (counts <= counts[least].max())),
        "never_used": np.flatnonzero(counts == 0),
    }
    sizes = {"least_common": len(least), "never_used": len(never)}
    generator = np.random.default_rng(DRAW_SEED)
    means = {
        name: np.array(
            [
                mean_or_nan(change[generator.choice(pool, size=sizes[name], replace=False)])
                for _ in range(draws)
            ]
        )
        for name, pool in pools.items()
    }
    measures = {
        "least_common_draw_sd": float(means["least_common"].std(ddof=1)),
        "never_used_draw_sd": float(means["never_used"].std(ddof=1)),
        "fall_excess_draw_sd": float((means["never_used"] - means["least_common"]).std(ddof=1)),
    }
    return {name: measures[name] for name in schemas.DRAW_MEASURES}
