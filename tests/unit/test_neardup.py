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
