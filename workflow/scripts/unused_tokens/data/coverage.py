"""How much of a vocabulary a list of books uses: per book, cumulatively, and extrapolated.

No training: a tokenizer and some text are enough. For each book its tokens, distinct ids and
the share of the vocabulary it uses; then the same as the books are added one after another, in
the listed order and in seeded random orders (the spread over orders says how much the order
matters). Heaps' law, distinct(n) = K * n**beta, is fitted to the distinct ids of every prefix
of the concatenated books (on a logarithmic grid of prefix lengths, in log-log space), once per
order; the spread of beta over the orders is the uncertainty given. The fit's misfit is shown
where it matters most, at the end of the text: the share it predicts there against the share
measured. The text it would take to use 50% and 90% of the vocabulary is extrapolated only where
the data support it: the share lies beyond what the whole text uses, and the fit reproduces
that within MISFIT_TOLERANCE; elsewhere it is NaN.
"""

import numpy as np
import pandas as pd
from scipy import stats

GRID_POINTS = 200  # prefix lengths per order on which Heaps' law is fitted
FIT_FROM = 1000  # tokens: shorter prefixes are left out of the fit (their growth is all start)
SHARES = (0.5, 0.9)  # of the vocabulary: the text size each would take, by the fit
MISFIT_TOLERANCE = 0.05  # relative: the fit's share at the text's end against the measured one


def distinct_growth(ids, lengths):
    """The number of distinct ids among the first n of `ids`, for each n in `lengths`."""
    _, first = np.unique(np.asarray(ids), return_index=True)
    return np.searchsorted(np.sort(first), np.asarray(lengths), side="left")


def per_book(books, vocab_size):
    """One row per book (`books`: {name: ids}, in order): tokens, distinct ids and the share
    of the vocabulary of `vocab_size` ids they make."""
    rows = []
    for name, ids in books.items():
        distinct = len(np.unique(ids))
        rows.append((name, len(ids), distinct, distinct / vocab_size))
    return pd.DataFrame(rows, columns=["book", "tokens", "distinct_ids", "vocabulary_share"])


def cumulative(books, vocab_size, order):
    """The books added one after another in `order` (names): after each, the tokens so far,
    the distinct ids so far and their share of the vocabulary."""
    seen, tokens, rows = np.zeros(vocab_size, dtype=bool), 0, []
    for k, name in enumerate(order, start=1):
        ids = np.asarray(books[name])
        seen[ids] = True
        tokens += len(ids)
        rows.append((k, name, tokens, int(seen.sum()), seen.sum() / vocab_size))
    return pd.DataFrame(
        rows, columns=["books", "added", "tokens", "distinct_ids", "vocabulary_share"]
    )


def orders(names, count, seed):
    """The listed order, then `count` seeded random orders of `names`."""
    generator = np.random.default_rng(seed)
    return [list(names)] + [list(generator.permutation(list(names))) for _ in range(count)]


def heaps_fit(ids):
    """(K, beta) of distinct(n) = K * n**beta, least squares in log-log space over a
    logarithmic grid of prefix lengths n of `ids` from FIT_FROM tokens on."""
    total = len(ids)
    if total <= FIT_FROM:
        raise ValueError(f"{total} tokens: Heaps' law is fitted from {FIT_FROM} tokens on")
    lengths = np.unique(np.geomspace(FIT_FROM, total, GRID_POINTS).round().astype(np.int64))
    fit = stats.linregress(np.log(lengths), np.log(distinct_growth(ids, lengths)))
    return float(np.exp(fit.intercept)), float(fit.slope)


def tokens_for_share(share, vocab_size, k, beta):
    """The tokens of text at which the fit distinct(n) = k * n**beta reaches `share` of the
    vocabulary (an extrapolation)."""
    return (share * vocab_size / k) ** (1 / beta)


def supported_sizes(fit_share, measured_share, sizes):
    """`sizes` ({share: tokens by the fit}) where the data support extrapolating them: the fit
    reproduces the share measured at the text's end within MISFIT_TOLERANCE, and the share lies
    beyond it (a share the text already reaches is measured, not extrapolated); else NaN."""
    fits = abs(fit_share / measured_share - 1) <= MISFIT_TOLERANCE
    return [
        tokens if fits and share > measured_share else np.nan for share, tokens in sizes.items()
    ]


def heaps_over_orders(books, vocab_size, book_orders):
    """One row per order: the order's index (0: the listed one), Heaps' K and beta fitted to
    the books concatenated in it, the tokens, the share of the vocabulary they use and the
    share the fit gives them, and the tokens the fit predicts for each of SHARES where they
    are supported (supported_sizes)."""
    rows = []
    for index, order in enumerate(book_orders):
        ids = np.concatenate([np.asarray(books[name]) for name in order])
        k, beta = heaps_fit(ids)
        measured = len(np.unique(ids)) / vocab_size
        fit_share = k * len(ids) ** beta / vocab_size
        sizes = {s: tokens_for_share(s, vocab_size, k, beta) for s in SHARES}
        supported = supported_sizes(fit_share, measured, sizes)
        rows.append((index, k, beta, len(ids), measured, fit_share, *supported))
    names = [f"tokens_for_{round(s * 100)}_percent" for s in SHARES]
    columns = ["order", "heaps_k", "heaps_beta", "tokens", "share_at_end", "fit_share_at_end"]
    return pd.DataFrame(rows, columns=columns + names)
