"""The chunk record: the Chroma metadata keys on disk never change (older indexes stay readable)."""

from __future__ import annotations

from datetime import date

from qa.index.records import UNDATED, from_chroma, record_of, to_chroma
from qa.types import Article, Chunk

ON_DISK_KEYS = {
    "event_first_day", "event_last_day", "event_dates", "doc_id", "chunk_index", "start", "end",
    "title", "url", "source", "published_at", "published_day",
}


def test_record_of_a_chunk_round_trips_through_the_stored_keys() -> None:
    text = "The bridge closed on Saturday."
    article = Article("d1", text, title="Bridge", url="https://x.example/b", source="wire", published_at=date(2025, 11, 17))
    record = record_of(article, Chunk("k-00000", "d1", 0, text, 0, len(text)))
    stored = to_chroma(record)
    assert set(stored) == ON_DISK_KEYS
    assert stored["published_at"] == "2025-11-17" and stored["published_day"] == date(2025, 11, 17).toordinal()
    assert stored["event_dates"] == "2025-11-15"
    assert from_chroma(stored) == record


def test_undated_and_older_records() -> None:
    undated = record_of(Article("d2", "No date here."), Chunk("k-00000", "d2", 0, "No date here.", 0, 13))
    assert to_chroma(undated)["published_at"] == "" and undated.published_day == UNDATED
    assert (undated.event_first_day, undated.event_last_day, undated.event_dates) == (UNDATED, UNDATED, "")
    older = {"doc_id": "d3", "chunk_index": 1, "start": 5, "end": 9, "title": "T", "url": "", "source": "s",
             "published_at": "2024-01-02", "published_day": date(2024, 1, 2).toordinal()}  # before event dates
    record = from_chroma(older)
    assert record.published_at == date(2024, 1, 2) and record.event_last_day == UNDATED
