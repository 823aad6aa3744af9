"""The ingest planner's decisions, without an index: a recording executor stands in for the
writer and keeps just enough of a catalog (alias rows, recorded origins) to answer the plan."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from qa.index.catalog import Alias
from qa.ingest.neardup import NearDuplicateIndex, signature
from qa.ingest.plan import PlanState, Planner
from qa.ingest.report import IngestReport
from qa.ingest.scope import API, PruneScope
from qa.settings import Settings
from qa.types import Article, Chunk


class Recorder:
    """Steps, recorded in order; alias rows and origins kept like the catalog keeps them."""

    def __init__(self, aliases: list[Alias] = (), sources: dict[str, list[str]] | None = None):
        self.calls: list[tuple[str, ...]] = []
        self.hints: list[int] = []  # expect_index calls
        self.alias_table = {a.alias_id: a for a in aliases}  # insertion order = rowid order
        self.origins = {k: list(v) for k, v in (sources or {}).items()}

    def expect_index(self) -> None:
        self.hints.append(len(self.calls))  # how many steps came before the hint

    def index(self, article: Article, chunks: list[Chunk], sig: np.ndarray) -> None:
        assert chunks and sig is not None
        self.calls.append(("index", article.doc_id))

    def delete(self, doc_id: str) -> None:
        self.calls.append(("delete", doc_id))

    def put_alias(self, alias: Alias) -> None:
        self.alias_table.pop(alias.alias_id, None)
        self.alias_table[alias.alias_id] = alias
        self.calls.append(("put_alias", alias.alias_id, alias.doc_id))

    def delete_alias(self, alias_id: str) -> None:
        self.alias_table.pop(alias_id, None)
        self.calls.append(("delete_alias", alias_id))

    def alias_rows(self, doc_id: str) -> list[Alias]:
        return [a for a in self.alias_table.values() if a.doc_id == doc_id]

    def put_signature(self, doc_id: str, sig: np.ndarray) -> None:
        self.calls.append(("put_signature", doc_id))

    def add_source(self, doc_id: str, path: str) -> None:
        have = self.origins.setdefault(doc_id, [])
        if path not in have:
            have.append(path)
        self.calls.append(("add_source", doc_id, path))

    def add_origin(self, doc_id: str, path: str) -> None:
        have = self.origins.setdefault(doc_id, [])
        if path not in have:
            have.append(path)
        self.calls.append(("add_origin", doc_id, path))

    def remove_source(self, doc_id: str, path: str) -> str | None:
        have = self.origins.get(doc_id, [])
        if path in have:
            have.remove(path)
        self.calls.append(("remove_source", doc_id, path))
        return have[-1] if have else None

    def drop_sources(self, doc_id: str) -> None:
        self.origins.pop(doc_id, None)
        self.calls.append(("drop_sources", doc_id))


def text(seed: int, words: int = 200) -> str:
    rng = random.Random(seed)
    vocab = [f"w{rng.randrange(10**6)}" for _ in range(2000)]
    sentences = [" ".join(rng.choice(vocab) for _ in range(10)).capitalize() + "." for _ in range(words // 10)]
    return " ".join(sentences)


def article(doc_id: str, body: str, path: str = API) -> Article:
    return Article(doc_id=doc_id, text=body, title=doc_id.upper(), path=path)


def state_of(docs: list[Article], aliases: list[Alias]) -> PlanState:
    """What the plan would load from a catalog holding ``docs`` and ``aliases``."""
    return PlanState(
        known={a.doc_id: (a.hash, 1) for a in docs},
        by_text={a.text_hash: a.doc_id for a in docs},
        aliases={al.alias_id: al.doc_id for al in aliases},
        alias_hashes={al.alias_id: al.article.hash for al in aliases if al.article},
        sources={x.doc_id: {x.path} for x in docs} | {al.alias_id: {al.path} for al in aliases},
        paths={x.doc_id: x.path for x in docs} | {al.alias_id: al.path for al in aliases},
        near=NearDuplicateIndex((a.doc_id, signature(a.text)) for a in docs),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "index")


def planner_for(docs: list[Article], aliases: list[Alias], settings: Settings) -> tuple[Planner, Recorder, IngestReport]:
    recorder = Recorder(aliases, {x.doc_id: [x.path] for x in docs} | {al.alias_id: [al.path] for al in aliases})
    report = IngestReport()
    planner = Planner(state_of(docs, aliases), recorder, settings, report, reread=lambda doc_id, path: None)
    return planner, recorder, report


def test_an_unchanged_article_emits_no_step(settings):
    a = article("a", text(1))
    planner, recorder, report = planner_for([a], [], settings)
    planner.plan(article("a", text(1)))
    assert recorder.calls == []
    assert report.unchanged == 1


def test_the_encoder_is_expected_first_for_an_article_to_index_and_never_for_a_copy(settings):
    """The hint comes before any step (the new generation is made at the first one), for a new
    or changed article; an unchanged article or an exact copy of an indexed one never loads the
    encoder."""
    a = article("a", text(1))
    planner, recorder, _ = planner_for([a], [], settings)
    planner.plan(article("a", text(1), path="/news/moved.txt"))  # unchanged, from another file
    planner.plan(article("copy-of-a", text(1)))  # an exact duplicate: an alias
    assert recorder.hints == [] and recorder.calls
    planner.plan(article("b", text(2)))
    assert recorder.hints == [len(recorder.calls) - 2]  # before b's add_source and index
    assert recorder.calls[-2:] == [("add_source", "b", API), ("index", "b")]


def test_a_changed_text_replans_its_aliases(settings):
    a = article("a", text(1))
    b = article("b", text(1))  # the same story under another id: an alias of a
    planner, recorder, report = planner_for([a], [Alias.of(b, "a")], settings)
    planner.plan(article("a", text(2)))
    planner.count_replanned()
    assert recorder.calls == [
        ("delete", "a"),
        ("index", "a"),
        ("delete_alias", "b"),
        ("index", "b"),  # no longer a duplicate of a: indexed on its own, never lost
    ]
    assert planner.state.aliases == {}
    assert (report.updated, report.added, report.duplicates) == (1, 1, 0)


def test_forgetting_a_document_places_its_alias_again_and_keeps_its_origins(settings):
    a = article("a", text(1))
    b = article("b", text(1))
    c = article("c", text(3))
    planner, recorder, report = planner_for([a, c], [Alias.of(b, "a")], settings)
    planner.forget("a")
    planner.count_replanned()
    assert recorder.calls == [("delete", "a"), ("delete_alias", "b"), ("index", "b")]
    assert set(planner.state.known) == {"b", "c"}
    assert planner.state.by_text[b.text_hash] == "b"
    assert "a" in recorder.origins and "a" in planner.state.sources  # its identity keeps its origins
    assert report.added == 1


def test_forgetting_a_document_realiases_a_duplicate_of_another(settings):
    a = article("a", text(1))
    c = article("c", text(3))
    b = article("b", text(3))  # recorded as a duplicate of a by an older run, but it repeats c
    planner, recorder, report = planner_for([a, c], [Alias.of(b, "a")], settings)
    planner.forget("a")
    planner.count_replanned()
    assert recorder.calls == [("delete", "a"), ("delete_alias", "b"), ("put_alias", "b", "c")]
    assert planner.state.aliases == {"b": "c"}
    assert report.duplicates == 1


def test_prune_forgets_only_what_no_origin_provides(tmp_path, settings):
    folder = tmp_path / "in"
    folder.mkdir()
    kept_file, gone_file, other_gone = folder / "kept.txt", folder / "gone.txt", folder / "other.txt"
    kept_file.write_text("x")
    x = article("x", text(1), str(gone_file))  # also in kept.txt, which is still there
    y = article("y", text(2), str(other_gone))  # only in a file that is gone
    z = article("z", text(3), str(gone_file))  # also read from stdin once
    planner, recorder, report = planner_for([x, y, z], [], settings)
    for doc_id, more in (("x", str(kept_file)), ("z", "-")):
        planner.state.sources[doc_id].add(more)
        recorder.origins[doc_id].insert(0, more)
    planner.prune(PruneScope([str(folder)]))
    assert ("delete", "y") in recorder.calls and ("drop_sources", "y") in recorder.calls
    assert not any(c[0] in ("delete", "drop_sources") and c[1] in ("x", "z") for c in recorder.calls)
    assert set(planner.state.known) == {"x", "z"}
    assert planner.state.paths["x"] == str(kept_file)  # recorded where it is still found
    assert report.removed == 1


def test_a_story_read_twice_is_planned_once_from_its_last_record(settings):
    """The same id read twice in a run: only the last record is planned; the one it replaces is
    named in a warning, counted as skipped, and its origin is recorded without moving where the
    story was last read. Nothing is written when the last record is the indexed one."""
    indexed = article("a", text(2), path="/news/b.jsonl")
    planner, recorder, report = planner_for([indexed], [], settings)
    planner.take(Article(doc_id="a", text=text(1), title="A", path="/news/a.jsonl", line=3))
    planner.take(article("a", text(2), path="/news/b.jsonl"))
    planner.plan_taken()
    assert recorder.calls == [("add_origin", "a", "/news/a.jsonl")] and recorder.hints == [0]
    assert planner.state.paths["a"] == "/news/b.jsonl"
    assert (report.unchanged, report.skipped, report.updated) == (1, 1, 0)
    assert [(w.path, w.line) for w in report.warnings] == [("/news/a.jsonl", 3)]
    planner.take(article("a", text(2), path="/news/b.jsonl"))  # the next run: its origin is known now
    planner.take(article("a", text(2), path="/news/b.jsonl"))
    planner.plan_taken()
    assert len(recorder.calls) == 1 and (report.unchanged, report.skipped) == (3, 1)


def test_articles_taken_beyond_the_memory_bound_come_back_whole_and_in_order():
    from qa.ingest.spool import Spool

    spool: Spool[tuple[str, str, Article | None]] = Spool(memory_bytes=1024)  # a few articles: then a file
    items = [(f"id-{i}", f"/news/{i}.txt", article(f"id-{i}", text(i)) if i % 3 else None) for i in range(20)]
    for item in items:
        spool.add(item)
    assert list(spool.drain()) == items
    assert list(spool.drain()) == []
