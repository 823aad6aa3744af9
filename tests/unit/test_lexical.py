"""The BM25 index (tantivy): analysis, filters, deletes, and sharing segments between generations."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from qa.index import lexical
from qa.index.filters import SearchFilters
from qa.index.generations import Generations

ROWS = [
    ("a-0", "a", 10, "wire", "Harbour bridge closed after storm damage"),
    ("b-0", "b", 20, "wire", "Storms closed the harbour again; ferries cancelled"),
    ("c-0", "c", -1, "blog", "Museum opens east wing with harbour paintings"),
    ("d-0", "d", 30, "gazette", "Council approves tram line along the river"),
]


def build(gen: Path, rows=ROWS) -> lexical.LexicalIndex:
    w = lexical.LexicalWriter(gen)
    w.add(rows)
    w.commit()
    return lexical.LexicalIndex(gen)


def ids(hits: list[tuple[str, float]]) -> set[str]:
    return {cid for cid, _ in hits}


def test_stemming_and_stop_words() -> None:
    assert lexical.terms("The storms are closing the bridges") == ["storm", "close", "bridg"]


def test_filters(tmp_path: Path) -> None:
    idx = build(tmp_path)
    assert ids(idx.search("harbour storm", 10)) == {"a-0", "b-0", "c-0"}
    day15 = date.fromordinal(15)
    assert ids(idx.search("harbour", 10, SearchFilters(as_of=day15))) == {"a-0", "c-0"}  # undated counts as published
    assert ids(idx.search("harbour", 10, SearchFilters(since=day15))) == {"b-0"}  # a range means dated only
    assert ids(idx.search("harbour", 10, SearchFilters(until=day15))) == {"a-0"}
    assert ids(idx.search("harbour", 10, SearchFilters(source="blog"))) == {"c-0"}
    assert idx.search("the of and", 10) == []
    best = idx.search("storm harbour closed", 10)
    assert best[0][1] >= best[-1][1] > 0


def test_deletes_and_generation_copies_share_segments(tmp_path: Path) -> None:
    gens = Generations(tmp_path / "index")
    with gens.writing():
        g1 = gens.new_generation(copy_current=False)
        build(g1)
        gens.publish(g1)
    with gens.writing():
        g2 = gens.new_generation(copy_current=True)
        seg = next(p for p in (g1 / lexical.LEXICAL_DIR).iterdir() if p.suffix == ".idx")
        assert os.stat(g2 / lexical.LEXICAL_DIR / seg.name).st_ino == os.stat(seg).st_ino
        w = lexical.LexicalWriter(g2)
        w.delete_doc("a")
        w.add([("e-0", "e", 40, "wire", "Harbour festival draws crowds")])
        w.commit()
        gens.publish(g2)
    old, new = lexical.LexicalIndex(g1), lexical.LexicalIndex(g2)
    assert ids(old.search("harbour", 10)) == {"a-0", "b-0", "c-0"}  # untouched by the newer writer
    assert ids(new.search("harbour", 10)) == {"b-0", "c-0", "e-0"}
    assert len(new) == 4
