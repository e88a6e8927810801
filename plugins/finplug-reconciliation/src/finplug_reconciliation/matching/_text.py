"""Text normalisation and integer similarity of references and counterparties.

Normalising: every run of Unicode white space becomes one space, the ends
are stripped, then the text is casefolded. ASCII values (nearly all
references) are normalised by polars in one vectorised pass; the few
non-ASCII ones go through Python's :meth:`str.casefold`, so both paths give
exactly :func:`normalise`.

Similarity is per mille from the integer Indel distance (insertions plus
deletions): ``1000 * (len_a + len_b - distance) // (len_a + len_b)``. No
float ratio is ever used.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence

import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import Indel

__all__ = ["fuzzy_block_pairs", "normalise", "normalise_series", "similarities", "similarity"]

_UNICODE_SPACE = re.compile(
    "[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)
_ASCII_SPACE = r"[\t\n\x0B\x0C\r ]+"


def normalise(text: str) -> str:
    """``text`` with white-space runs as one space, ends stripped, casefolded."""
    return _UNICODE_SPACE.sub(" ", text).strip(" ").casefold()


def normalise_series(values: pl.Series) -> pl.Series:
    """:func:`normalise` over a String series: columnar for ASCII, Python for the rest."""
    fast = values.str.replace_all(_ASCII_SPACE, " ").str.strip_chars(" ").str.to_lowercase()
    non_ascii = (values.str.len_bytes() != values.str.len_chars()).arg_true()
    if non_ascii.len() == 0:
        return fast
    slow = [normalise(text) for text in values.gather(non_ascii).to_list()]
    return fast.scatter(non_ascii, pl.Series(slow, dtype=pl.String))


def similarity(a: str, b: str) -> int:
    """Per-mille similarity of ``a`` and ``b`` (1000: equal; two empty strings: 1000)."""
    total = len(a) + len(b)
    if total == 0:
        return 1000
    return 1000 * (total - Indel.distance(a, b)) // total


def similarities(left: Sequence[str], right: Sequence[str]) -> list[int]:
    """:func:`similarity` of each pair ``(left[i], right[i])``; empty strings score 0."""
    return [similarity(a, b) if a and b else 0 for a, b in zip(left, right, strict=True)]


def fuzzy_block_pairs(
    queries: Iterable[tuple[int, str, Sequence[Hashable]]],
    choices: Mapping[Hashable, tuple[Sequence[str], Sequence[int]]],
    threshold: int,
) -> tuple[list[int], list[int], list[int]]:
    """Pairs within blocks whose similarity is at least ``threshold``.

    ``queries`` are ``(key, text, blocks)``; ``choices`` map a block to its
    ``(texts, keys)``. Returns ``(query keys, choice keys, scores)``. The
    distance cut-off handed to rapidfuzz is only a loose bound (its scan runs
    in C); every pair it returns is checked with :func:`similarity`.
    Empty texts never pair.
    """
    out_q: list[int] = []
    out_c: list[int] = []
    out_s: list[int] = []
    longest = {
        block: max((len(t) for t in texts), default=0) for block, (texts, _) in choices.items()
    }
    for key, text, blocks in queries:
        if not text:
            continue
        for block in blocks:
            found = choices.get(block)
            if found is None:
                continue
            texts, keys = found
            cutoff = (len(text) + longest[block]) * (1000 - threshold) // 1000
            hits = process.extract(
                text, texts, scorer=Indel.distance, score_cutoff=cutoff, limit=None
            )
            for choice, _distance, position in hits:
                if not choice:
                    continue
                score = similarity(text, choice)
                if score >= threshold:
                    out_q.append(key)
                    out_c.append(keys[position])
                    out_s.append(score)
    return out_q, out_c, out_s
