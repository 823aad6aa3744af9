"""Incremental ingest against a real on-disk Chroma with the real model."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from qa.assistant import Assistant
from qa.errors import ModelMismatchError
from qa.ingest import ingest, rebuild
from qa.settings import Settings
from qa.index.reader import IndexReader
from qa.index.writer import remove_documents
from conftest import SAMPLES


def _copy_samples(tmp_path: Path) -> Path:
    dst = tmp_path / "articles"
    shutil.copytree(SAMPLES, dst)
    return dst


def _chunk_ids(settings: Settings) -> set[str]:
    r = IndexReader(settings)
    try:
        return set(r.vectors.live())
    finally:
        r.close()


def test_reingest_is_a_no_op_and_publishes_nothing(tmp_path, settings):
    src = _copy_samples(tmp_path)
    first = ingest([str(src)], settings)
    assert (first.added, first.failed, first.documents) == (6, 0, 6)
    gen = IndexReader(settings).gen
    again = ingest([str(src)], settings)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 6)
    assert IndexReader(settings).gen == gen  # no new generation written


def test_changed_document_replaces_its_old_chunks(tmp_path, settings):
    src = _copy_samples(tmp_path)
    ingest([str(src)], settings)
    before = _chunk_ids(settings)
    txt = src / "museum-east-wing.txt"
    txt.write_text(txt.read_text() + "\nThe café on the top floor will open in May, the museum said in a statement.\n")
    report = ingest([str(src)], settings)
    assert (report.updated, report.unchanged, report.added) == (1, 5, 0)
    reader = IndexReader(settings)
    joined = " ".join(text for text, record in reader.vectors.live().values() if record.doc_id == str(txt.resolve()))
    assert "café on the top floor" in joined
    assert reader.catalog.stats()["chunks"] == len(_chunk_ids(settings))
    assert len(_chunk_ids(settings)) >= len(before)


def test_prune_removes_documents_whose_files_are_gone(tmp_path, settings):
    src = _copy_samples(tmp_path)
    ingest([str(src)], settings)
    (src / "riverside-tram.html").unlink()
    kept = ingest([str(src)], settings)
    assert kept.removed == 0 and kept.documents == 6
    pruned = ingest([str(src)], settings, prune=True)
    assert pruned.removed == 1 and pruned.documents == 5
    ids = _chunk_ids(settings)
    reader = IndexReader(settings)
    records = [record for _, record in reader.vectors.live().values()]
    assert ids and not any("gazette.example" in r.url for r in records)


def test_exact_duplicate_under_another_id_is_stored_once(tmp_path, settings):
    feed = tmp_path / "dupes.jsonl"
    body = "The harbour crane collapsed on Tuesday during a storm, injuring nobody, the port authority said."
    feed.write_text(
        json.dumps({"id": "one", "url": "https://a.example/1", "text": body, "date": "2025-01-02"}) + "\n"
        + json.dumps({"id": "two", "url": "https://b.example/2", "text": "  " + body.replace(" ", "  "), "date": "2025-01-02"}) + "\n"
    )
    report = ingest([str(feed)], settings)
    assert (report.added, report.duplicates, report.documents) == (1, 1, 1)
    assert report.chunks == 1
    again = ingest([str(feed)], settings)
    assert (again.unchanged, again.added, again.duplicates) == (2, 0, 0)


def test_model_is_recorded_and_mixing_is_refused(tmp_path, settings):
    ingest([str(SAMPLES / "wire-feed.jsonl")], settings)
    assert IndexReader(settings).model == "sentence-transformers/all-MiniLM-L6-v2"
    other = Settings(index=settings.index, model=str(tmp_path / "some-other-model"))
    (tmp_path / "some-other-model").mkdir()
    with pytest.raises(ModelMismatchError, match="was built with embedding model"):
        ingest([str(SAMPLES / "museum-east-wing.txt")], other)
    # the bundled model under its short name is the same model
    same = Settings(index=settings.index, model="all-MiniLM-L6-v2")
    assert ingest([str(SAMPLES / "wire-feed.jsonl")], same).unchanged == 3


def test_rebuild_reembeds_into_a_fresh_generation(tmp_path, settings):
    ingest([str(SAMPLES)], settings)
    before = IndexReader(settings)
    stats = before.stats()
    report = rebuild(Settings(index=settings.index, chunk_chars=300))
    after = IndexReader(settings)
    assert after.gen != before.gen
    assert report.documents == stats["documents"]
    assert report.chunks > stats["chunks"]  # smaller chunks, more of them
    assert after.stats()["chunk_chars"] == 300


def test_remove_documents(tmp_path, settings):
    ingest([str(SAMPLES / "wire-feed.jsonl")], settings)
    removed, missing = remove_documents(settings, ["wire-2025-0306-rates", "nope"])
    assert removed == ["wire-2025-0306-rates"] and missing == ["nope"]
    reader = IndexReader(settings)
    assert reader.catalog.stats()["documents"] == 2
    assert not [r for _, r in reader.vectors.live().values() if r.doc_id == "wire-2025-0306-rates"]


def test_published_at_and_source_overrides(tmp_path, settings):
    ingest([str(SAMPLES / "museum-east-wing.txt")], settings, published_at=date(2025, 3, 7), source="City Desk")
    art = next(IndexReader(settings).catalog.articles())
    assert art.published_at == date(2025, 3, 7) and art.source == "City Desk"


def test_old_generations_are_collected(tmp_path):
    s = Settings(index=tmp_path / "ix", keep_generations=2)
    for i in range(4):
        f = tmp_path / f"a{i}.txt"
        f.write_text(f"Article number {i} reports that the bridge reopened after repairs on Monday.")
        ingest([str(f)], s)
    gens = sorted(p.name for p in (tmp_path / "ix").glob("gen-*"))
    assert len(gens) == 2 and (tmp_path / "ix" / "CURRENT").read_text().strip() == gens[-1]


def test_near_duplicate_wire_story_is_kept_once_and_linked(tmp_path, settings):
    story = (SAMPLES / "norland-westmark-call.md").read_text().split("LATEST POSTS")[0].split("---", 2)[2]
    edited = story.replace("their offices said in a joint readout", "the two governments said").replace(
        "about forty minutes", "about 40 minutes"
    )
    unrelated = (SAMPLES / "museum-east-wing.txt").read_text()
    feed = tmp_path / "wire.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in [
        {"id": "site-a", "url": "https://a.example/story", "text": story, "date": "2025-03-08"},
        {"id": "site-b", "url": "https://b.example/copy", "text": edited, "date": "2025-03-08"},
        {"id": "museum", "text": unrelated, "date": "2025-03-07"},
    ]) + "\n")
    report = ingest([str(feed)], settings)
    assert (report.added, report.duplicates, report.documents) == (2, 1, 2)
    reader = IndexReader(settings)
    assert reader.catalog.aliases() == {"site-b": "site-a"}
    row = reader.catalog.db.execute("SELECT url FROM aliases WHERE alias_id='site-b'").fetchone()
    assert row[0] == "https://b.example/copy"
    assert not [r for _, r in reader.vectors.live().values() if r.doc_id == "site-b"]


def test_pruning_a_story_indexes_its_surviving_duplicate(tmp_path, settings):
    """Only a duplicate's location is kept; when the copy that was indexed loses its file, the
    same prune reads the duplicate's file so the story stays searchable."""
    story = (SAMPLES / "norland-westmark-call.md").read_text().split("LATEST POSTS")[0].split("---", 2)[2]
    edited = story.replace("their offices said in a joint readout", "the two governments said")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a-original.txt").write_text(story)
    (src / "b-syndicated.txt").write_text(edited)
    (src / "museum.txt").write_text((SAMPLES / "museum-east-wing.txt").read_text())
    first = ingest([str(src)], settings)
    assert (first.added, first.duplicates) == (2, 1)
    (src / "a-original.txt").unlink()
    pruned = ingest([str(src)], settings, prune=True)
    # the duplicate was read in this run: counted once, as that read found it (unchanged)
    assert (pruned.removed, pruned.added, pruned.unchanged, pruned.failed) == (1, 0, 2, 0)
    reader = IndexReader(settings)
    assert reader.catalog.aliases() == {}
    paths = {row[0] for row in reader.catalog.db.execute("SELECT path FROM documents")}
    assert {Path(p).name for p in paths} == {"b-syndicated.txt", "museum.txt"}
    hits = Assistant.open(settings.index).search("the two governments said", 3, as_of=date(2030, 1, 1))
    assert hits and Path(hits[0].doc_id).name == "b-syndicated.txt"
    again = ingest([str(src)], settings, prune=True)
    assert (again.added, again.removed, again.unchanged) == (0, 0, 2)


def test_lexical_index_follows_ingest_rm_prune_and_rebuild(tmp_path, settings):
    src = _copy_samples(tmp_path)
    ingest([str(src)], settings)

    def lexical_docs(term: str) -> set[str]:
        reader = IndexReader(settings)
        ids = [cid for cid, _ in reader.lexical.search(term, 20)]
        return {record.doc_id for _, _, record, _ in reader.vectors.get(ids)} if ids else set()

    museum = str((src / "museum-east-wing.txt").resolve())
    assert lexical_docs("Sigrun hull") == {museum}
    (src / "museum-east-wing.txt").unlink()
    ingest([str(src)], settings, prune=True)
    assert lexical_docs("Sigrun hull") == set()
    remove_documents(settings, ["wire-2025-0306-rates"])
    assert lexical_docs("central bank interest rate") == set()
    rebuild(settings)
    assert lexical_docs("tram line Quay Street") == {"https://gazette.example/local/riverside-tram-approved"}
    reader = IndexReader(settings)
    assert len(reader.lexical) == reader.vectors.count() == len(reader.dense)


def test_index_from_before_exact_search_and_tantivy_is_upgraded_by_the_next_ingest(tmp_path, settings):
    import shutil

    from qa.assistant import Assistant
    from qa.index.generations import Generations

    src = _copy_samples(tmp_path)
    ingest([str(src)], settings)
    gen = Generations(settings.resolved_index()).current()
    shutil.rmtree(gen / "dense")  # what an index written by an older qa looks like
    shutil.rmtree(gen / "bm25")
    old = IndexReader(settings)
    assert old.dense is None and old.lexical is None
    # still searchable (Chroma's own index, no BM25) before the upgrade
    assert Assistant(settings).search("Who won the national cup?")[0].doc_id == "wire-2025-0303-final"
    report = ingest([str(src)], settings)
    assert report.added == 0 and report.unchanged >= 6
    new = IndexReader(settings)
    assert new.gen != gen
    assert len(new.dense) == len(new.lexical) == new.vectors.count() > 0
    assert Assistant(settings).search("Who won the national cup?")[0].doc_id == "wire-2025-0303-final"


def test_alias_rows_of_an_older_catalog_are_migrated_and_never_lost(tmp_path, settings):
    """An older qa kept only an alias's file path: the catalog gains the content columns, the
    next ingest stores the alias's content, and a forgotten story's old-style alias is re-read."""
    import sqlite3

    from qa.index.generations import Generations

    story = (SAMPLES / "norland-westmark-call.md").read_text().split("LATEST POSTS")[0].split("---", 2)[2]
    src, other = tmp_path / "src", tmp_path / "other"
    src.mkdir()
    other.mkdir()
    (src / "a-original.txt").write_text(story)
    (other / "b-copy.txt").write_text(story.replace("their offices said in a joint readout", "the two governments said"))
    ingest([str(src), str(other)], settings)

    def old_schema() -> None:  # what an index written by an older qa looks like
        db = sqlite3.connect(Generations(settings.resolved_index()).current() / "catalog.sqlite")
        db.executescript(
            "ALTER TABLE aliases RENAME TO new_aliases;"
            "CREATE TABLE aliases (alias_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL,"
            " path TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '');"
            "INSERT INTO aliases SELECT alias_id, doc_id, path, url FROM new_aliases; DROP TABLE new_aliases;"
            "DELETE FROM meta WHERE key LIKE 'migration:%';"  # nor did it record migrations
        )
        db.close()

    old_schema()
    again = ingest([str(src), str(other)], settings)  # unchanged; the alias's content is stored now
    assert (again.unchanged, again.added, again.duplicates) == (2, 0, 0)
    reader = IndexReader(settings)
    (alias,) = reader.catalog.alias_rows()
    assert alias.article is not None and "the two governments said" in alias.article.text
    reader.close()

    old_schema()
    (src / "a-original.txt").unlink()
    pruned = ingest([str(src)], settings, prune=True)  # the old-style alias is read from its file
    assert pruned.warnings == []
    assert (pruned.removed, pruned.added, pruned.failed) == (1, 1, 0)
    reader = IndexReader(settings)
    assert [Path(a.path).name for a in reader.catalog.articles()] == ["b-copy.txt"]
    assert reader.catalog.aliases() == {}


def test_api_records_get_the_same_checks_and_warnings_as_files(tmp_path):
    """Dict records (Python API, POST /ingest) pass through the same acceptance as file records:
    an over-long text is refused with its position, a dropped field is a warning, never silent."""
    from qa import Assistant

    bot = Assistant.open(index=tmp_path / "index", max_text_chars=200)
    report = bot.ingest([
        {"id": "long", "title": "Long", "text": "The harbour bridge storm. " * 20},
        {"id": "ok", "title": "Harbour", "url": "javascript:alert(1)", "published_at": "yesterday",
         "text": "The harbour bridge closed during the storm on Friday, the council said."},
    ])
    assert report.added == 1 and report.failed == 1
    assert [(e.path, e.line) for e in report.errors] == [("<api>", 1)]
    warned = {(w.path, w.line, w.warning.split(":")[0]) for w in report.warnings}
    assert ("<api>", 2, "field 'url'") in warned and ("<api>", 2, "field 'published_at'") in warned
    bot.close()


class _Shown:
    """A display: keeps, in order, every progress call an ingest makes (whatever its name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, args[0] if args else None))

    def total(self, name: str) -> int:
        return sum(int(n) for kind, n in self.calls if kind == name)  # type: ignore[call-overload]


def _check_chunk_progress(shown: _Shown, chunks: int, batch: int) -> None:
    """Chunks are reported as embedded batch by batch of the encoder (not per write of up to 512),
    each count against a total already announced, ending at the run's chunks."""
    embedded = planned = 0
    steps = 0
    for kind, n in shown.calls:
        if kind == "chunks_planned":
            planned += int(n)  # type: ignore[call-overload]
        elif kind == "chunks_embedded":
            assert 0 < int(n) <= batch  # type: ignore[call-overload]
            embedded += int(n)  # type: ignore[call-overload]
            steps += 1
            assert embedded <= planned
    assert embedded == planned == chunks
    assert steps >= -(-chunks // batch)


def test_progress_counts_records_and_chunks_embedded_out_of_a_known_total(tmp_path):
    """Ingesting 400 records showed only 'N inputs · 0 chunks embedded' until the first write of
    512 chunks, then the next: no records, no total, nothing in between."""
    from conftest import synthetic_feed

    settings = Settings(index=tmp_path / "index", embed_batch_size=16)
    feed = synthetic_feed(tmp_path / "feed.jsonl", 60, seed=5)
    shown = _Shown()
    report = ingest([str(feed)], settings, progress=shown)
    assert report.added == 60 and report.failed == 0
    assert shown.calls[0] == ("input_started", str(feed))
    assert shown.total("records_read") == 60
    _check_chunk_progress(shown, report.chunks, 16)

    shown = _Shown()
    rebuilt = rebuild(settings, progress=shown)
    assert shown.calls[0] == ("records_planned", 60) and shown.total("records_read") == 60
    _check_chunk_progress(shown, rebuilt.chunks, 16)


@pytest.mark.parametrize("batch", [1, 2, 512])
def test_same_id_twice_in_one_run_keeps_only_the_last(tmp_path, batch):
    """A feed dump may hold the same id twice, edited. The second replaces the first whether the
    first is already written (batch 1, 2) or still buffered (512): Chroma, the exact-search
    matrix and BM25 hold the second's chunks once, and no others (deletes applied before adds)."""
    import tantivy

    settings = Settings(index=tmp_path / "index", write_batch_chunks=batch)
    body = "The Harlow tram line reopened after repairs. " * 40
    records = [
        {"id": "tram", "title": "Tram line reopens", "published_at": "2025-03-01", "text": body},
        {"id": "tram", "title": "Tram line reopens", "published_at": "2025-03-01",
         "text": body + "Drivers said the first trams ran full on Monday."},
        {"id": "ferry", "title": "Ferry fares rise", "published_at": "2025-03-01",
         "text": "Ferry fares on the Solent route rise by four percent from April. " * 30},
    ]
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ingest([str(path)], settings)
    assert report.failed == 0
    reader = IndexReader(settings)
    try:
        counts = dict(reader.catalog.db.execute("SELECT doc_id, n_chunks FROM documents"))
        assert set(counts) == {"tram", "ferry"}
        got = reader.vectors.live()
        assert len(got) == reader.vectors.count() == sum(counts.values())
        tram = " ".join(text for text, r in got.values() if r.doc_id == "tram")
        assert "first trams ran full" in tram
        dense = [c for c, alive in zip(reader.dense.ids, reader.dense.alive) if alive]
        assert sorted(dense) == sorted(got)
        searcher = reader.lexical.searcher
        hits = searcher.search(tantivy.Query.all_query(), limit=1000).hits
        assert sorted(searcher.doc(a)["chunk_id"][0] for _, a in hits) == sorted(got)
    finally:
        reader.close()


@pytest.mark.parametrize("layout", ["one file", "two files"])
def test_an_id_read_twice_keeps_the_last_record_and_a_reingest_writes_nothing(tmp_path, tiny_encoder, layout):
    """One id in two records with different texts (in one JSONL file, or in two files read in
    one run): every re-ingest of the same inputs re-embedded both ("0 added, 2 updated") and
    published a new generation, and the record that lost was dropped without a word. The last
    record read is kept; the one it replaces is named (file and line) in a warning and counted
    as skipped, each run; an unchanged re-ingest writes nothing."""
    from qa.index.generations import Generations

    settings = Settings(index=tmp_path / "index", model=str(tiny_encoder))
    first = {"id": "tram", "title": "Tram", "text": "The council approved the riverside tram line on Tuesday."}
    last = {"id": "tram", "title": "Tram", "text": "The council rejected the riverside tram line after a long debate."}
    other = {"id": "ferry", "title": "Ferry", "text": "Ferry fares on the Solent route rise by four percent from April."}
    src = tmp_path / "src"
    src.mkdir()
    if layout == "one file":
        loser = winner = src / "feed.jsonl"
        winner.write_text("".join(json.dumps(r) + "\n" for r in (first, other, last)))
    else:
        loser, winner = src / "a.jsonl", src / "b.jsonl"  # read in this order
        loser.write_text("".join(json.dumps(r) + "\n" for r in (first, other)))
        winner.write_text(json.dumps(last) + "\n")
    generations = Generations(settings.resolved_index())
    for run in range(3):
        report = ingest([str(src)], settings)
        counts = (report.added, report.updated, report.unchanged, report.skipped, report.failed)
        assert counts == ((2, 0, 0, 1, 0) if run == 0 else (0, 0, 2, 1, 0)), (run, report)
        assert [(w.path, w.line) for w in report.warnings] == [(str(loser), 1)]
        assert "duplicate id 'tram'" in report.warnings[0].warning and str(winner) in report.warnings[0].warning
        if run == 0:
            published = generations.current()
        assert generations.current() == published, f"run {run} published a new generation"
        reader = IndexReader(settings)
        try:
            assert reader.catalog.get("tram").text == last["text"]
            assert reader.catalog.get("tram").path == str(winner)
            assert reader.catalog.sources()["tram"] == {str(loser), str(winner)}
        finally:
            reader.close()


def test_a_reader_keeps_its_generation_until_it_closes_even_past_keep_generations(tmp_path, tiny_encoder):
    """A reader opens its search indexes at its first search; the writer removed generations
    beyond QA_KEEP_GENERATIONS regardless, so a reader whose generation went in that gap found
    its BM25 index and matrix "absent" and answered nothing (one publish is enough with keep 1).
    A generation a reader holds is removed once that reader closes, at the next publish."""
    from qa.assistant import Assistant
    from qa.index.generations import Generations
    from qa.index.reader import IndexReader
    from qa.settings import Settings

    settings = Settings(index=tmp_path / "ix", model=str(tiny_encoder), keep_generations=1)
    writer = Assistant(settings)
    writer.ingest_records([{"id": "a", "title": "Harbour ferry strike", "text": "The harbour ferry strike entered its third day on Monday."}])
    reader = IndexReader(settings)
    held = reader.gen
    writer.ingest_records([{"id": "b", "title": "Tram line", "text": "The council approved the riverside tram line on Tuesday."}])
    writer.ingest_records([{"id": "c", "title": "Storm", "text": "A storm closed the harbour bridge overnight on Wednesday."}])
    assert held.is_dir(), "removed while a reader held it"
    assert reader.lexical is not None and reader.dense is not None
    reader.close()
    writer.ingest_records([{"id": "d", "title": "Rates", "text": "The central bank raised its interest rate on Thursday."}])
    assert not held.exists() and Generations(settings.resolved_index()).all() == [Generations(settings.resolved_index()).current()]
    writer.close()


def test_an_idle_assistant_keeps_no_old_generation_and_answers_from_the_new_one(tmp_path, tiny_encoder):
    """A long-lived process (`qa serve`) that answered once and then sat idle pinned that
    generation until its next call: publishes by another writer could not remove it (a whole
    generation on disk, and on a Chroma server the rows and epochs it shows). A reader is pinned
    only while a call uses it."""
    from qa.assistant import Assistant
    from qa.index.generations import Generations
    from qa.settings import Settings

    settings = Settings(index=tmp_path / "ix", model=str(tiny_encoder), keep_generations=1)
    writer = Assistant(settings)
    writer.ingest_records([{"id": "a", "title": "Harbour ferry strike", "text": "The harbour ferry strike entered its third day on Monday."}])
    server = Assistant(settings)
    assert server.search("ferry strike", k=1)
    first = Generations(settings.resolved_index()).current()
    writer.ingest_records([{"id": "b", "title": "Tram line", "text": "The council approved the riverside tram line on Tuesday."}])
    writer.ingest_records([{"id": "c", "title": "Storm", "text": "A storm closed the harbour bridge overnight on Wednesday."}])
    assert first is not None and not first.exists(), "an idle reader kept its generation"
    assert {p.doc_id for p in server.search("storm harbour bridge", k=3)} == {"a", "b", "c"}
    server.close()
    writer.close()
