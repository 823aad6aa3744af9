"""A replica catching up while the writer keeps publishing (real `chroma run` server, tiny
encoder: this is about bookkeeping). The writer runs between the replica's steps, at the worst
moments, from inside the replica's own reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.assistant import Assistant
from qa.index import shared
from qa.index.replica import follow, sync
from qa.settings import Settings

pytestmark = pytest.mark.slow


WORDS = ["harbour", "council", "ferry", "bridge", "budget", "strike", "tram", "school", "hospital", "election", "river", "storm", "port", "museum", "library", "festival", "airport", "tunnel", "market", "stadium", "railway", "canal", "forest", "farm"]


def _story(i: int) -> dict:
    """A story of its own (no near-duplicate of another: each is a different shuffle of words)."""
    import random

    rng = random.Random(i)
    sentences = [" ".join(rng.sample(WORDS, 9)).capitalize() + "." for _ in range(6)]
    return {"id": f"s-{i}", "title": f"Story {i}", "date": f"2025-03-0{1 + i % 9}", "text": " ".join(sentences)}


def _docs(root: Path) -> set[str]:
    return {d.doc_id for d in Assistant(Settings(index=root)).documents()}


@pytest.mark.parametrize("moment", [1, 2, 3])
def test_a_catch_up_the_writer_overtakes_is_redone_never_published_stale(
    tmp_path: Path, chroma_server: str, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch, moment: int
) -> None:
    """Replica at version 1; the writer removes a story (version 2). The replica decides to catch
    up from 1 to 2; at its ``moment``-th read the writer publishes two more versions, so the server
    collects the removal the replica was about to read. The replica must not publish a version 2
    that still holds the removed story; once caught up it holds exactly the writer's stories."""
    common = {"chroma_url": chroma_server, "model": str(tiny_encoder), "keep_generations": 2}
    writer = Assistant(Settings(index=tmp_path / "writer", **common))
    writer.ingest_records([_story(i) for i in range(4)])
    index_id = (tmp_path / "writer" / "INDEX_ID").read_text().strip()
    replica = Settings(index=tmp_path / "replica", **common)
    follow(replica, index_id)
    writer.remove(["s-0"])

    calls = {"n": 0}
    real_ids = shared.SharedIndex.ids

    def ids_then_writer_publishes(self, col, where):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == moment:
            writer.ingest_records([_story(10)])
            writer.ingest_records([_story(11)])
        return real_ids(self, col, where)

    monkeypatch.setattr(shared.SharedIndex, "ids", ids_then_writer_publishes)
    report = sync(replica)
    monkeypatch.setattr(shared.SharedIndex, "ids", real_ids)
    assert "s-0" not in _docs(tmp_path / "replica")
    assert report.full  # redone from nothing once overtaken
    sync(replica)
    assert _docs(tmp_path / "replica") == _docs(tmp_path / "writer") == {"s-1", "s-2", "s-3", "s-10", "s-11"}
    writer.close()
