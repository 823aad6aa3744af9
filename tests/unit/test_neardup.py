"""Near-duplicate signatures: bit for bit datasketch's (signatures stored by earlier runs stay
comparable), computed without importing it; the banded LSH finds lightly edited copies only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.neardup import NUM_PERM, NearDuplicateIndex, signature

STORY = (
    "The river authority said on Tuesday that the northern dam would reopen to barges next month "
    "after repairs to its lock gates, which were damaged by spring floods. Shipping firms had warned "
    "that the closure was costing them millions a week, and farmers upstream said grain exports had "
    "stalled. Engineers replaced two gates and reinforced the spillway, the authority said, adding "
    "that inspections would continue through the summer."
)


def datasketch_signature(text: str) -> np.ndarray:
    """What qa stored before (datasketch's MinHash over the same shingles)."""
    import re

    from datasketch import MinHash

    words = re.findall(r"\w+", text.lower())
    shingles = {" ".join(words[i : i + 5]).encode() for i in range(max(1, len(words) - 5 + 1))}
    m = MinHash(num_perm=NUM_PERM, scheme="affine32")
    m.update_batch(shingles)
    return np.asarray(m.hashvalues, dtype=np.uint32)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_signatures_are_datasketchs_bit_for_bit(text: str) -> None:
    assert np.array_equal(signature(text), datasketch_signature(text))


def test_examples_of_every_shape_match_datasketch() -> None:
    for text in ["", "one", "a b c d", "a b c d e", STORY, STORY.upper(), "Zürich — 東京 " * 30]:
        got = signature(text)
        assert got.dtype == np.uint32 and got.shape == (NUM_PERM,)
        assert np.array_equal(got, datasketch_signature(text)), text[:20]


def test_the_index_finds_an_edited_copy_but_not_another_story_and_forgets_removed_ones() -> None:
    edited = STORY.replace("the summer.", "the autumn.")  # the last word: 1 of ~65 shingles changes
    other = "The city council approved a new budget for schools and libraries on Monday evening. " * 4
    index = NearDuplicateIndex([("original", signature(STORY)), ("other", signature(other))])
    assert index.find("copy", signature(edited)) == "original"
    assert index.find("original", signature(STORY)) is None  # never itself
    assert index.find("x", signature("Completely unrelated words about a tennis final in June " * 5)) is None
    index.remove("original")
    assert index.find("copy", signature(edited)) is None
    index.add("original", signature(STORY))
    index.add("original", signature(other))  # re-added with new text: the old bands go
    assert index.find("copy", signature(edited)) is None


def test_of_equally_similar_copies_the_smallest_id_is_found_and_bad_signatures_are_refused() -> None:
    import pytest

    sig = signature(STORY)
    index = NearDuplicateIndex([("c", sig), ("a", sig), ("b", sig)])
    assert index.find("new", sig) == "a"
    assert index.find("a", sig) == "b"
    with pytest.raises(ValueError, match="shape"):
        index.add("short", sig[:10])
    with pytest.raises(ValueError, match="shape"):
        index.find("short", sig[:10])


_BASES = np.random.RandomState(7).randint(0, 1 << 32, size=(3, NUM_PERM), dtype=np.uint64).astype(np.uint32)
_signatures = st.tuples(st.integers(0, 2), st.sets(st.integers(0, NUM_PERM - 1), max_size=24)).map(
    lambda t: np.array([i if i in t[1] else v for i, v in enumerate(_BASES[t[0]])], dtype=np.uint32)
)  # copies of three stories, a few values changed: similarities on both sides of the threshold
_ids = st.sampled_from("abcdefg")


def reference_find(docs: dict[str, np.ndarray], doc_id: str, sig: np.ndarray) -> str | None:
    """By brute force: of the documents sharing a whole band with ``sig``, the most similar at or
    above the threshold, the smallest id among equals."""
    from qa.ingest.neardup import BANDS, ROWS, THRESHOLD

    best, best_j = None, -1.0
    for other in sorted(docs):
        share = any(np.array_equal(docs[other][b * ROWS : (b + 1) * ROWS], sig[b * ROWS : (b + 1) * ROWS]) for b in range(BANDS))
        j = float(np.mean(docs[other] == sig))
        if other != doc_id and share and j >= THRESHOLD and j > best_j:
            best, best_j = other, j
    return best


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_ids, _signatures), max_size=6),
    st.lists(st.one_of(
        st.tuples(st.just("add"), _ids, _signatures),
        st.tuples(st.just("remove"), _ids, st.none()),
        st.tuples(st.just("find"), _ids, _signatures),
    ), max_size=12),
)
def test_the_index_answers_as_a_brute_force_search_through_adds_and_removals(
    start: list[tuple[str, np.ndarray]], steps: list[tuple[str, str, np.ndarray | None]]
) -> None:
    index = NearDuplicateIndex(start)
    docs = dict(start)
    for doc_id, sig in start:
        assert index.find(doc_id + "?", sig) == reference_find(docs, doc_id + "?", sig)
    for op, doc_id, sig in steps:
        if op == "add":
            assert sig is not None
            index.add(doc_id, sig)
            docs[doc_id] = sig
        elif op == "remove":
            index.remove(doc_id)
            docs.pop(doc_id, None)
        else:
            assert sig is not None
            assert index.find(doc_id, sig) == reference_find(docs, doc_id, sig)

