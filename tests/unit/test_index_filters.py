"""One filter rule (SearchFilters.admits), translated by each engine: every translation lets
through exactly the chunks the rule admits."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from qa.index import dense, lexical
from qa.index.chroma import chroma_where
from qa.index.filters import SearchFilters
from qa.index.records import UNDATED, ChunkRecord

ROWS = [  # (chunk id, published day, source)
    ("undated-a", UNDATED, "a"),
    ("d10-a", 10, "a"),
    ("d15-b", 15, "b"),
    ("d20-a", 20, "a"),
    ("d30-b", 30, "b"),
    ("undated-b", UNDATED, "b"),
]
DAYS = [None, date.fromordinal(15), date.fromordinal(20)]
FILTERS = [
    SearchFilters(since=since, until=until, source=source, as_of=as_of)
    for since, until, as_of, source in itertools.product(DAYS, DAYS, [None, date.fromordinal(12), date.fromordinal(25)], [None, "a", "nowhere"])
]


def admitted(f: SearchFilters) -> set[str]:
    return {cid for cid, day, source in ROWS if f.admits(day, source)}


def test_the_rule() -> None:
    assert admitted(SearchFilters()) == {cid for cid, _, _ in ROWS}
    assert admitted(SearchFilters(as_of=date.fromordinal(12))) == {"undated-a", "d10-a", "undated-b"}  # undated: already published
    assert admitted(SearchFilters(since=date.fromordinal(15))) == {"d15-b", "d20-a", "d30-b"}  # a range: dated only
    assert admitted(SearchFilters(until=date.fromordinal(15), source="a")) == {"d10-a"}


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(len(ROWS), 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_dense_mask(tmp_path: Path, vectors: np.ndarray) -> None:
    w = dense.DenseWriter(tmp_path)
    w.add([r[0] for r in ROWS], vectors, [r[1] for r in ROWS], [r[2] for r in ROWS], [("", ChunkRecord(doc_id=r[0], chunk_index=0, start=0, end=0)) for r in ROWS])
    w.commit()
    idx = dense.DenseIndex(tmp_path)
    for f in FILTERS:
        assert {c for c, keep in zip(idx.ids, idx.mask(f)) if keep} == admitted(f), f


def test_lexical_query(tmp_path: Path) -> None:
    w = lexical.LexicalWriter(tmp_path)
    w.add((cid, cid, day, source, "harbour storm") for cid, day, source in ROWS)
    w.commit()
    idx = lexical.LexicalIndex(tmp_path)
    for f in FILTERS:
        assert {c for c, _ in idx.search("harbour", 100, f)} == admitted(f), f


def test_chroma_where(vectors: np.ndarray) -> None:
    import chromadb

    client = chromadb.EphemeralClient()
    col = client.create_collection("filters")
    col.add(
        ids=[r[0] for r in ROWS],
        embeddings=vectors,
        metadatas=[{"published_day": day, "source": source} for _, day, source in ROWS],
    )
    for f in FILTERS:
        assert set(col.get(where=chroma_where(f))["ids"]) == admitted(f), f
