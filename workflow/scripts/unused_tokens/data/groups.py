"""Choose the three token groups the experiment follows.

- most_common: the N tokens with the highest counts;
- least_common: the N tokens with the lowest counts among those that occur at least once and
  are not in most_common (so the two never share an id, even where one run of equal counts spans
  both edges of the ranking, as in a small corpus);
- never_used: N tokens drawn at random (numpy PCG64 with the configured seed) from those that
  never occur.
- new_in_finetune (finetune_groups, where fine-tuning is on): the N most frequent tokens of the
  second book among those with count 0 in the first, ties broken by ascending id.

Tie rule: equal counts are ordered by ascending token id, so most_common takes the lower ids of
a tie at its edge and least_common takes the lower ids too. never_used is drawn from the
count-0 ids in ascending order and listed in ascending id order, so one seed gives one group.
"""

import re

import numpy as np
import pandas as pd

from ..pipeline.errors import PipelineError
from ..pipeline.names import GROUP_NAMES, NEW_GROUP


class GroupSizeError(PipelineError):
    """A group was asked to be larger than the tokens available for it."""


def _smaller(largest, otherwise):
    """The fix for a group too large: a groups.size that fits, where one does."""
    return f"lower groups.size to {largest} or less" if largest >= 1 else otherwise


def select_groups(freq, size, seed):
    """The three groups as one table: group, position, token_id, count, rank, token_text."""
    used = freq[freq["count"] > 0]
    unused_ids = np.sort(freq.loc[freq["count"] == 0, "token_id"].to_numpy())
    if 2 * size > len(used):
        raise GroupSizeError(
            f"groups.size={size} needs {2 * size} distinct tokens for most_common and "
            f"least_common, but the corpus has only {len(used)}: "
            + _smaller(len(used) // 2, "use a longer text")
        )
    if size > len(unused_ids):
        raise GroupSizeError(
            f"groups.size={size} needs {size} never-used tokens, but only {len(unused_ids)} "
            "vocabulary ids have count 0: "
            + _smaller(len(unused_ids), "use a shorter text or a larger vocabulary")
        )
    by_count_desc = used.sort_values(["count", "token_id"], ascending=[False, True])
    by_count_asc = used.sort_values(["count", "token_id"], ascending=[True, True])
    never = np.sort(np.random.default_rng(seed).choice(unused_ids, size=size, replace=False))
    most = by_count_desc["token_id"].to_numpy()[:size]
    least = by_count_asc.loc[~by_count_asc["token_id"].isin(most), "token_id"].to_numpy()[:size]
    chosen = dict(zip(GROUP_NAMES, (most, least, never), strict=True))
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


def read_groups(path):
    """{group name: token ids} of a groups.parquet file written by the select_groups rule."""
    return group_ids(pd.read_parquet(path))


BYTES = re.compile(r"(?:\\x[0-9a-f]{2})+")  # the escapes tokenizer.token_texts writes
VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d"}  # ␣ ↵ ⇥ ␍


def readable(text):
    """A token's text for reading: spaces, newlines and tabs as visible signs, and the bytes of
    a token that is not whole UTF-8 (tokenizer.token_texts writes them as \\xNN escapes) as one
    bracket of hex digits: "\\xe2\\x80" becomes "[bytes e2 80]"."""
    text = "".join(VISIBLE.get(c, c) for c in text)
    return BYTES.sub(lambda m: f"[bytes {m[0].replace(chr(92) + 'x', ' ').strip()}]", text)


def token_table(groups, group):
    """One group's tokens as a table to read: id, token (readable), count."""
    part = groups[groups["group"] == group]
    return pd.DataFrame(
        {
            "id": part["token_id"].to_numpy(),
            "token": [readable(t) for t in part["token_text"]],
            "count in the book": part["count"].to_numpy(),
        }
    )


def finetune_groups(groups, pretrain_freq, finetune_freq, size):
    """schemas.FINETUNE_GROUPS: the first book's groups and new_in_finetune, each token with its
    count in both books."""
    pretrain = pretrain_freq.set_index("token_id")["count"]
    finetune = finetune_freq.set_index("token_id")
    candidates = finetune[(finetune["count"] > 0) & (pretrain.reindex(finetune.index) == 0)]
    new = candidates.reset_index().sort_values(["count", "token_id"], ascending=[False, True])
    new_ids = new["token_id"].to_numpy()[:size]
    if len(new_ids) < size:
        raise PipelineError(
            f"the second book (finetune.corpus) uses only {len(new_ids)} of the tokens the first "
            f"never does, fewer than groups.size={size}: fine-tune on a book with more new "
            "tokens, or lower groups.size"
        )
    parts = [
        groups.loc[groups["group"] == g, ["group", "position", "token_id"]] for g in GROUP_NAMES
    ]
    parts.append(
        pd.DataFrame({"group": NEW_GROUP, "position": np.arange(len(new_ids)), "token_id": new_ids})
    )
    table = pd.concat(parts, ignore_index=True)
    ids = table["token_id"].to_numpy()
    return table.assign(
        position=table["position"].astype(np.int32),
        token_id=ids.astype(np.int32),
        pretrain_count=pretrain.loc[ids].to_numpy(),
        finetune_count=finetune.loc[ids, "count"].to_numpy(),
        token_text=finetune.loc[ids, "token_text"].to_numpy(),
    )
