"""An embedded index's Chroma store grows by parts: a small ingest writes its chunks into a new
part and lists the published parts, which no writer opens again, so it costs O(new) instead of a
copy of the whole store (issue #16). Chroma's own search (``QA_DENSE_SEARCH=hnsw``) and every read
of the store still see exactly the live chunks."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

from qa.assistant import Assistant
from qa.index import chroma_parts
from qa.index.chroma import CHROMA_DIR
from qa.index.generations import Generations
from qa.index.reader import IndexReader
from qa.settings import Settings

TOPICS = [
    ("harbour", "The north quay of the harbour reopened on Monday after a year of repairs."),
    ("tram", "The city's tram line now reaches the airport, the transport office said."),
    ("library", "The central library won the national design award for its new reading hall."),
    ("bridge", "Engineers closed the old rail bridge for inspection after a barge struck a pier."),
    ("orchard", "Growers in the valley picked a record apple harvest despite a dry spring."),
    ("choir", "The children's choir sang at the cathedral for the first time in a decade."),
    ("museum", "A museum of clocks opened in the former post office on Saturday."),
    ("ferry", "A new electric ferry began crossing the bay every twenty minutes."),
    ("market", "The covered market will stay open late on Thursdays through the summer."),
    ("stadium", "The stadium's roof was finished two months ahead of schedule."),
    ("glacier", "Scientists measured the glacier's retreat at forty metres this year."),
    ("festival", "The film festival announced a programme of fifty premieres."),
    ("reservoir", "Heavy rain filled the reservoir to its highest level since records began."),
    ("airport", "The airport added a second runway to ease summer delays."),
]


def _article(folder: Path, name: str, body: str, day: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(f"{name.title()} news\n\nPublished 2024-03-{day:02d}.\n\n{body}\n")
    return path


def _settings(tmp_path: Path, encoder: Path, **kw: object) -> Settings:
    return Settings(index=tmp_path / "index", model=str(encoder), **kw)


def _indexed(tmp_path: Path, encoder: Path, topics: list[tuple[str, str]], **kw: object) -> tuple[Settings, Path]:
    """A new index of ``topics`` (one ingest): its settings and its live generation."""
    settings = _settings(tmp_path, encoder, **kw)
    bot = Assistant(settings)
    try:
        bot.ingest([str(_article(tmp_path / "a", name, body)) for name, body in topics])
    finally:
        bot.close()
    gen = Generations(settings.resolved_index()).current()
    assert gen is not None
    return settings, gen


def _live(settings: Settings) -> tuple[dict[str, str], int]:
    """Chroma's live chunk ids (→ document id) and the catalog's chunk count."""
    reader = IndexReader(settings)
    try:
        rows = reader.vectors.live()
        assert reader.vectors.count() == len(rows)
        return {cid: record.doc_id for cid, (_, record) in rows.items()}, int(reader.catalog.stats()["chunks"])
    finally:
        reader.close()


def _hnsw(tmp_path: Path, encoder: Path, question: str, k: int = 20) -> list[tuple[str, str]]:
    """(title, text) of what Chroma's own search finds (BM25 off)."""
    bot = Assistant(_settings(tmp_path, encoder, dense_search="hnsw", lexical_weight=0.0))
    try:
        return [(p.title, p.text) for p in bot.search(question, k)]
    finally:
        bot.close()


def _hnsw_titles(tmp_path: Path, encoder: Path, question: str, k: int = 20) -> list[str]:
    return [title for title, _ in _hnsw(tmp_path, encoder, question, k)]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_a_small_ingest_writes_its_own_part_and_copies_nothing(tmp_path: Path, tiny_encoder: Path) -> None:
    settings = _settings(tmp_path, tiny_encoder)
    parts = settings.resolved_index() / chroma_parts.PARTS_DIR
    bot = Assistant(settings)
    try:
        bot.ingest([str(_article(tmp_path / "a", name, body)) for name, body in TOPICS[:3]])
        first = Generations(settings.resolved_index()).current()
        assert first is not None
        published = _digests(parts)
        bot.ingest([str(_article(tmp_path / "b", *TOPICS[3]))])
        second = Generations(settings.resolved_index()).current()
    finally:
        bot.close()
    assert second is not None and second != first
    assert [p.name for p in (second / CHROMA_DIR).iterdir()] == [chroma_parts.MANIFEST]  # no store of its own to copy
    old, new = chroma_parts.parts_of(first), chroma_parts.parts_of(second)
    assert old and set(old) < set(new)  # the published part is listed again, beside the new article's
    now = _digests(parts)
    assert all(now.get(rel) == digest for rel, digest in published.items()), "a published part was written"
    ids, chunks = _live(settings)
    assert len(ids) == chunks and len(set(ids.values())) == 4


def test_updates_and_removals_are_honoured_by_chromas_own_search(tmp_path: Path, tiny_encoder: Path) -> None:
    settings = _settings(tmp_path, tiny_encoder)
    folder = tmp_path / "a"
    paths = [_article(folder, name, body) for name, body in TOPICS[:4]]
    bot = Assistant(settings)
    try:
        bot.ingest([str(folder)])
        _article(folder, "tram", "The tram line was cut back to the old depot after a landslide.")  # an update
        bot.ingest([str(folder)])
        removed = [d for d in bot.documents() if d.title.startswith("Bridge")]
        assert len(removed) == 1
        bot.remove([removed[0].doc_id])
    finally:
        bot.close()
    ids, chunks = _live(settings)
    assert len(ids) == chunks and len(set(ids.values())) == 3
    found = _hnsw(tmp_path, tiny_encoder, "tram line landslide depot")
    tram = [text for title, text in found if title == "Tram news"]
    assert len(tram) == 1 and "landslide" in tram[0], found  # the updated text only, never the old one
    assert "Bridge news" not in [title for title, _ in found]
    reader = IndexReader(_settings(tmp_path, tiny_encoder))
    try:
        texts = [text for text, record in reader.vectors.live().values() if record.title == "Tram news"]
    finally:
        reader.close()
    assert texts and all("landslide" in t for t in texts) and paths


def test_many_small_ingests_merge_their_parts_and_lose_nothing(tmp_path: Path, tiny_encoder: Path) -> None:
    settings = _settings(tmp_path, tiny_encoder)
    bot = Assistant(settings)
    singles = TOPICS[6:]
    try:
        bot.ingest([str(_article(tmp_path / "first", name, body)) for name, body in TOPICS[:6]])
        first = Generations(settings.resolved_index()).current()
        assert first is not None
        (base,) = chroma_parts.parts_of(first)
        for i, (name, body) in enumerate(singles):  # a part each, merged by chroma_parts.FANOUT
            bot.ingest([str(_article(tmp_path / f"in-{i}", name, body, day=i + 7))])
    finally:
        bot.close()
    gen = Generations(settings.resolved_index()).current()
    assert gen is not None
    parts = chroma_parts.parts_of(gen)
    assert len(singles) >= chroma_parts.FANOUT and len(parts) < 1 + len(singles)
    assert base in parts  # small parts were merged; the big one was left alone
    listed = {p for g in Generations(settings.resolved_index()).all() for p in chroma_parts.parts_of(g)}
    on_disk = {p.name for p in (settings.resolved_index() / chroma_parts.PARTS_DIR).iterdir() if p.is_dir()}
    assert on_disk == listed  # merged parts no kept generation lists are removed
    ids, chunks = _live(settings)
    assert len(ids) == chunks and len(set(ids.values())) == len(TOPICS)
    titles = _hnsw_titles(tmp_path, tiny_encoder, "quay harbour reopened", k=len(TOPICS) * 4)
    assert {f"{name.title()} news" for name, _ in TOPICS} <= set(titles)


def test_an_older_qas_single_store_is_read_and_then_grows_by_parts(tmp_path: Path, tiny_encoder: Path) -> None:
    """A generation an older qa wrote keeps one Chroma store at ``chroma/`` itself."""
    settings, gen = _indexed(tmp_path, tiny_encoder, TOPICS[:3])
    store = gen / CHROMA_DIR
    (part,) = chroma_parts.parts_of(gen)
    folder = settings.resolved_index() / chroma_parts.PARTS_DIR
    for item in (folder / part).iterdir():  # the older layout: the one store at chroma/ itself
        shutil.move(str(item), str(store / item.name))
    shutil.rmtree(folder)
    (store / chroma_parts.MANIFEST).unlink()
    assert (store / "chroma.sqlite3").exists() and not chroma_parts.parts_of(gen)
    assert len(_live(settings)[0]) == _live(settings)[1]
    assert "Library news" in _hnsw_titles(tmp_path, tiny_encoder, "library design award reading hall")

    bot = Assistant(settings)
    try:
        bot.ingest([str(_article(tmp_path / "b", *TOPICS[3]))])
        bot.remove([d.doc_id for d in bot.documents() if d.title.startswith("Tram")])
        bot.ingest([str(_article(tmp_path / "c", *TOPICS[4]))])
    finally:
        bot.close()
    ids, chunks = _live(settings)
    assert len(ids) == chunks and len(set(ids.values())) == 4
    titles = _hnsw_titles(tmp_path, tiny_encoder, "library bridge orchard", k=20)
    assert {"Library news", "Bridge news", "Orchard news"} <= set(titles) and "Tram news" not in titles
    now = Generations(settings.resolved_index()).current()
    assert now is not None and chroma_parts.parts_of(now) and chroma_parts.ROOT not in chroma_parts.parts_of(now)
    assert [p.name for p in (now / CHROMA_DIR).iterdir()] == [chroma_parts.MANIFEST]  # moved among the parts


def test_a_killed_writers_parts_are_removed_even_by_an_ingest_with_nothing_to_write(tmp_path: Path, tiny_encoder: Path) -> None:
    settings = _settings(tmp_path, tiny_encoder)
    folder = tmp_path / "a"
    for name, body in TOPICS[:2]:
        _article(folder, name, body)
    bot = Assistant(settings)
    try:
        bot.ingest([str(folder)])
    finally:
        bot.close()
    parts = settings.resolved_index() / chroma_parts.PARTS_DIR
    listed = set(chroma_parts.parts_of(Generations(settings.resolved_index()).current() or tmp_path))
    shutil.copytree(parts / min(listed), parts / "p-0123456789ab")  # what a killed writer leaves
    (parts / "p-0123456789ab.ids.json").write_text("[]")
    (parts / ".p-ba9876543210.ids.json.4242").write_text("[")
    bot = Assistant(settings)
    try:
        report = bot.ingest([str(folder)])  # nothing new: no generation is written
    finally:
        bot.close()
    assert report.added == report.updated == 0
    assert {p.name for p in parts.iterdir()} == {n for p in listed for n in (p, f"{p}.ids.json")}


def test_an_empty_store_an_older_reader_created_is_ignored_one_with_chunks_refused(tmp_path: Path, tiny_encoder: Path) -> None:
    import pytest

    from qa.errors import QAError
    from qa.index.chroma import VectorStore

    settings, gen = _indexed(tmp_path, tiny_encoder, TOPICS[:2])
    stray = VectorStore(gen, collection=settings.collection, model=str(tiny_encoder))  # an older qa opens chroma/
    stray.close()
    assert (gen / CHROMA_DIR / "chroma.sqlite3").exists()
    assert "Harbour news" in _hnsw_titles(tmp_path, tiny_encoder, "harbour quay")
    stray = VectorStore(gen, collection=settings.collection, model=str(tiny_encoder))
    reader = IndexReader(settings)
    try:
        rows = reader.vectors.live()
    finally:
        reader.close()
    stray.add_rows(["x-1"], ["a chunk an older qa wrote"], [next(iter(rows.values()))[1]], np.ones((1, 8), np.float32) / 8**0.5)
    stray.close()
    with pytest.raises(QAError, match="older qa"):
        _hnsw_titles(tmp_path, tiny_encoder, "harbour quay")


def test_an_upgrade_reads_a_private_copy_never_the_published_part(tmp_path: Path, tiny_encoder: Path) -> None:
    """A generation whose dense parts lost their rows is filled again from Chroma at the next
    write: from a copy of each part, since Chroma rewrites what it opens."""
    from qa.index import dense

    # keep 3: the upgrade publishes once, then the ingest
    settings, gen = _indexed(tmp_path, tiny_encoder, TOPICS[:3], keep_generations=3)
    (part,) = chroma_parts.parts_of(gen)
    published = _digests(settings.resolved_index() / chroma_parts.PARTS_DIR / part)
    for f in (gen / dense.DENSE_DIR).glob("*.rows.*"):
        f.unlink()
    bot = Assistant(settings)
    try:
        bot.ingest([str(_article(tmp_path / "b", *TOPICS[3]))])
    finally:
        bot.close()
    now = Generations(settings.resolved_index()).current()
    assert now is not None and dense.has_rows(now)
    assert part not in chroma_parts.parts_of(now)  # its copy is listed instead
    assert _digests(settings.resolved_index() / chroma_parts.PARTS_DIR / part) == published
    ids, chunks = _live(settings)
    assert len(ids) == chunks and len(set(ids.values())) == 4
