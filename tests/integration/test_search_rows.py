"""A search reads its candidates from the generation's own files: Chroma, the store of record, is
written by ingest and read only to upgrade an older qa's index. (Chroma's get of ~150 ids was
~35 ms of a warm question.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from qa.assistant import Assistant
from qa.index import dense
from qa.index.chroma import CHROMA_DIR
from qa.index.generations import Generations

ARTICLES = {
    "harbour.txt": "Harbour quay reopens\n\nThe north quay of the harbour reopened on Monday after a year of repairs.\n",
    "tram.txt": "Tram line extended\n\nThe city's tram line now reaches the airport, the transport office said.\n",
    "library.txt": "Library wins award\n\nThe central library won the national design award for its new reading hall.\n",
}


def _ingest(tmp_path: Path, encoder: Path) -> Assistant:
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text)
    bot = Assistant.open(tmp_path / "index", model=str(encoder))
    bot.ingest([str(folder)])
    return bot


def _found(bot: Assistant, question: str) -> list[tuple[str, str, str]]:
    return [(p.doc_id, p.title, p.text) for p in bot.search(question, 3)]


def test_search_never_reads_chroma(tmp_path: Path, tiny_encoder: Path) -> None:
    bot = _ingest(tmp_path, tiny_encoder)
    want = _found(bot, "When did the harbour quay reopen?")
    bot.close()
    assert len(want) == 3 and all(text for _, _, text in want)
    gen = Generations(tmp_path / "index").current()
    assert gen is not None
    shutil.rmtree(gen / CHROMA_DIR)  # a search that opened Chroma would find an empty store
    bot = Assistant.open(tmp_path / "index", model=str(tiny_encoder))
    try:
        assert _found(bot, "When did the harbour quay reopen?") == want
    finally:
        bot.close()
    assert not (gen / CHROMA_DIR).exists()  # nor create one in a published generation


def test_an_older_qas_index_gains_the_rows_at_its_next_write(tmp_path: Path, tiny_encoder: Path) -> None:
    """Parts an older qa wrote keep no rows: searches read those from Chroma, and the next write
    rebuilds the matrix with its rows from Chroma (an upgrade, like any missing search index)."""
    bot = _ingest(tmp_path, tiny_encoder)
    want = _found(bot, "Which library won an award?")
    bot.close()
    gen = Generations(tmp_path / "index").current()
    assert gen is not None
    for f in (gen / dense.DENSE_DIR).glob("*.rows.*"):
        f.unlink()
    assert not dense.has_rows(gen)
    bot = Assistant.open(tmp_path / "index", model=str(tiny_encoder))
    try:
        assert _found(bot, "Which library won an award?") == want  # from Chroma
        extra = tmp_path / "more"
        extra.mkdir()
        (extra / "park.txt").write_text("Park opens\n\nA new riverside park opened to the public on Sunday.\n")
        bot.ingest([str(extra)])
        now = Generations(tmp_path / "index").current()
        assert now is not None and now != gen and dense.has_rows(now)
        assert _found(bot, "Which library won an award?")[0] == want[0]
        assert any(doc.endswith("park.txt") or "park" in doc for doc, _, _ in _found(bot, "When did the riverside park open?"))
    finally:
        bot.close()
