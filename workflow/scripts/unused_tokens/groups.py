"""Choose the three token groups the experiment follows.

- most_common: the N tokens with the highest counts;
- least_common: the N tokens with the lowest counts among those that occur at least once;
- never_used: N tokens drawn at random (numpy PCG64 with the configured seed) from those that
  never occur.

Tie rule: equal counts are ordered by ascending token id, so most_common takes the lower ids of
a tie at its edge and least_common takes the lower ids too. never_used is drawn from the
count-0 ids in ascending order and listed in ascending id order, so one seed gives one group.
"""

import numpy as np
import pandas as pd

from .errors import PipelineError


class GroupSizeError(PipelineError):
    """A group was asked to be larger than the tokens available for it."""


def select_groups(freq, size, seed):
    """The three groups as one table: group, position, token_id, count, rank, token_text."""
    used = freq[freq["count"] > 0]
    unused_ids = np.sort(freq.loc[freq["count"] == 0, "token_id"].to_numpy())
    if 2 * size > len(used):
        raise GroupSizeError(
            f"groups.size={size} needs {2 * size} distinct tokens for most_common and "
            f"least_common, but the corpus has only {len(used)}: lower groups.size"
        )
    if size > len(unused_ids):
        raise GroupSizeError(
            f"groups.size={size} needs {size} never-used tokens, but only {len(unused_ids)} "
            "vocabulary ids have count 0: lower groups.size"
        )
    by_count_desc = used.sort_values(["count", "token_id"], ascending=[False, True])
    by_count_asc = used.sort_values(["count", "token_id"], ascending=[True, True])
    never = np.sort(np.random.default_rng(seed).choice(unused_ids, size=size, replace=False))
    chosen = {
        "most_common": by_count_desc["token_id"].to_numpy()[:size],
        "least_common": by_count_asc["token_id"].to_numpy()[:size],
        "never_used": never,
    }
    by_id = freq.set_index("token_id")
    parts = []
    for name, ids in chosen.items():
        part = by_id.loc[ids, ["count", "rank", "token_text"]].reset_index()
        part.insert(0, "position", np.arange(size, dtype=np.int32))
        part.insert(0, "group", name)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[
        ["group", "position", "token_id", "count", "rank", "token_text"]
    ]


def group_ids(groups):
    """{group name: array of token ids} in the table's order."""
    return {
        name: part.sort_values("position")["token_id"].to_numpy()
        for name, part in groups.groupby("group", sort=False)
    }
