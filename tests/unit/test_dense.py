"""The exact-search matrix: parts, deletions, merges, filters, and sharing between generations."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from qa.index import dense
from qa.index.filters import SearchFilters
from qa.index.generations import Generations
from qa.index.records import ChunkRecord


def texts(ids: list[str]) -> list[tuple[str, ChunkRecord]]:
    return [(f"text of {c}", ChunkRecord(doc_id=f"doc-{c}", chunk_index=0, start=0, end=len(c))) for c in ids]


def unit_rows(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write(gen: Path, ids: list[str], vectors: np.ndarray, days: list[int] | None = None, sources: list[str] | None = None) -> None:
    w = dense.DenseWriter(gen)
    w.add(ids, vectors, days or [100] * len(ids), sources or ["wire"] * len(ids), texts(ids))
    w.commit()


def test_search_matches_brute_force_across_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense, "PART_ROWS", 7)  # force several parts
    vecs = unit_rows(50)
    ids = [f"c{i}" for i in range(50)]
    w = dense.DenseWriter(tmp_path)
    for i in range(0, 50, 5):
        w.add(ids[i : i + 5], vecs[i : i + 5], [i] * 5, ["a"] * 5, texts(ids[i : i + 5]))
    w.commit()
    idx = dense.DenseIndex(tmp_path)
    assert len(idx) == 50
    q = unit_rows(1, seed=9)[0]
    hits, sims = idx.search(q, 10)
    expected = np.argsort(-(vecs @ q))[:10]
    assert [h[0] for h in hits] == [ids[i] for i in expected]
    assert hits[0][1] == pytest.approx(float(vecs[expected[0]] @ q), abs=1e-5)
    assert idx.row_of("c3") is not None and sims[idx.row_of("c3")] == pytest.approx(float(vecs[3] @ q), abs=1e-5)


def test_filters_mask_days_and_sources(tmp_path: Path) -> None:
    vecs = unit_rows(4)
    write(tmp_path, ["old", "new", "undated", "other"], vecs, [10, 20, -1, 20], ["a", "a", "a", "b"])
    idx = dense.DenseIndex(tmp_path)
    q = vecs[1]

    def found(**kw: object) -> set[str]:
        return {cid for cid, _ in idx.search(q, 10, idx.mask(SearchFilters(**kw)))[0]}  # type: ignore[arg-type]

    assert found(as_of=date.fromordinal(15)) == {"old", "undated"}  # undated articles are always "already published"
    assert found(since=date.fromordinal(15)) == {"new", "other"}  # a date range means dated articles only
    assert found(source="b") == {"other"}
    assert found(source="nowhere") == set()


def test_deleted_rows_disappear_and_merge_compacts(tmp_path: Path) -> None:
    vecs = unit_rows(20)
    ids = [f"c{i}" for i in range(20)]
    write(tmp_path, ids, vecs)
    w = dense.DenseWriter(tmp_path)
    w.delete(ids[:8])  # 40% deleted: compaction rewrites the part without them
    w.add(["c0"], vecs[:1], [5], ["a"], texts(["c0"]))  # the same id re-added (a changed article) is a new row
    w.commit()
    idx = dense.DenseIndex(tmp_path)
    assert len(idx) == 13
    assert not any(idx.mask(SearchFilters())[i] for i, c in enumerate(idx.ids) if c in ids[1:8])
    hits, _ = idx.search(vecs[0], 1)
    assert hits[0][0] == "c0"
    manifest = (tmp_path / dense.DENSE_DIR / dense.MANIFEST).read_text()
    assert '"deleted": {}' in manifest


def test_generation_copy_shares_parts_and_keeps_the_old_one_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense, "MAX_PARTS", 2)
    gens = Generations(tmp_path / "index")
    with gens.writing():
        g1 = gens.new_generation(copy_current=False)
        vecs = unit_rows(30)
        for i in range(3):
            write(g1, [f"a{i}-{j}" for j in range(10)], vecs[i * 10 : (i + 1) * 10])
        gens.publish(g1)
    with gens.writing():
        g2 = gens.new_generation(copy_current=True)
        part = next((g2 / dense.DENSE_DIR).glob("*.vec.npy"))
        assert os.stat(part).st_ino == os.stat(g1 / dense.DENSE_DIR / part.name).st_ino  # linked, not copied
        write(g2, ["b0"], unit_rows(1, seed=3))  # a fourth part: more than MAX_PARTS, small ones merge
        gens.publish(g2)
    old, new = dense.DenseIndex(g1), dense.DenseIndex(g2)
    assert len(old) == 30 and len(new) == 31
    assert len(list((g2 / dense.DENSE_DIR).glob("*.vec.npy"))) <= 2
    assert old.search(vecs[5], 1)[0][0][0] == "a0-5"


def record(cid: str, day: int = 100) -> ChunkRecord:
    return ChunkRecord(doc_id=f"doc-{cid}", chunk_index=0, start=0, end=len(cid), title=f"Title «{cid}»",
                       source="wire", published_day=day, event_dates="2025-03-02")


def test_parts_keep_each_rows_text_and_record_through_deletes_and_merges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search reads its candidates' texts and records from the parts (not Chroma): they follow
    every add, delete, re-add and merge, deleted rows are never returned, and a part written
    without them (an older qa's) is left to the caller."""
    monkeypatch.setattr(dense, "PART_ROWS", 4)
    monkeypatch.setattr(dense, "MAX_PARTS", 2)
    vecs = unit_rows(12)
    ids = [f"c{i}" for i in range(12)]
    w = dense.DenseWriter(tmp_path)
    w.add(ids, vecs, [100] * 12, ["wire"] * 12, [(f"text of {c} — ünïcode\nline", record(c)) for c in ids])
    w.commit()
    assert dense.has_rows(tmp_path)
    w = dense.DenseWriter(tmp_path)
    w.delete(["c1", "c5", "c6"])
    w.add(["c5"], vecs[5:6], [7], ["wire"], [("c5 written again", record("c5", 7))])
    w.commit()  # more parts than MAX_PARTS: merged, deleted rows dropped
    idx = dense.DenseIndex(tmp_path)
    got, elsewhere = idx.texts(ids + ["nowhere"])
    assert set(got) == set(ids) - {"c1", "c6"} and elsewhere == []
    assert got["c0"] == ("text of c0 — ünïcode\nline", record("c0"))
    assert got["c5"] == ("c5 written again", record("c5", 7))
    idx.close()

    monkeypatch.setattr(dense, "MAX_PARTS", 12)  # no merge: one part of an older qa's among parts with rows
    w = dense.DenseWriter(tmp_path)
    w.add(["old"], unit_rows(1, seed=4), [100], ["wire"], texts(["old"]))
    w.commit()
    newest = w.parts[-1]  # as an older qa wrote it: no rows files
    for suffix in (".rows.jsonl", ".rows.npy"):
        (tmp_path / dense.DENSE_DIR / f"{newest}{suffix}").unlink()
    assert not dense.has_rows(tmp_path)
    idx = dense.DenseIndex(tmp_path)
    got, elsewhere = idx.texts(["old", "c0", "c1"])
    assert set(got) == {"c0"} and elsewhere == ["old"]  # c1 is deleted: neither
    idx.close()
    with pytest.raises(RuntimeError):
        idx.texts(["c0"])


def test_damaged_rows_files_count_as_none_and_are_never_read(tmp_path: Path) -> None:
    """A part whose rows file is shorter than its offsets say (a partial copy) keeps no rows:
    has_rows is false (the writer rebuilds the matrix from Chroma) and searches read Chroma."""
    ids = ["a", "b"]
    write(tmp_path, ids, unit_rows(2))
    assert dense.has_rows(tmp_path)
    lines = next((tmp_path / dense.DENSE_DIR).glob("*.rows.jsonl"))
    lines.write_bytes(lines.read_bytes()[:-5])
    assert not dense.has_rows(tmp_path)
    got, elsewhere = dense.DenseIndex(tmp_path).texts(ids)
    assert got == {} and elsewhere == ids


def test_a_part_whose_offsets_disagree_with_its_ids_keeps_no_rows_for_writer_and_reader(tmp_path: Path) -> None:
    """One rule for "a part keeps whole rows": offsets for fewer rows than the part has (the
    lines' file still as long as they say) count as none for the writer's has_rows exactly as for
    the reader, so the writer rebuilds the matrix instead of leaving searches on Chroma forever."""
    ids = ["a", "b"]
    write(tmp_path, ids, unit_rows(2))
    folder = tmp_path / dense.DENSE_DIR
    lines = next(folder.glob("*.rows.jsonl"))
    first = lines.read_bytes().split(b"\n")[0] + b"\n"
    lines.write_bytes(first)
    offsets = next(folder.glob("*.rows.npy"))
    np.save(offsets, np.array([0, len(first)], dtype=np.int64))
    got, elsewhere = dense.DenseIndex(tmp_path).texts(ids)
    assert got == {} and elsewhere == ids  # the reader: no rows
    assert not dense.has_rows(tmp_path)  # the writer: the same


def test_rows_of_mismatched_lengths_are_refused_before_anything_is_buffered(tmp_path: Path) -> None:
    w = dense.DenseWriter(tmp_path)
    with pytest.raises(ValueError, match="2 ids"):
        w.add(["a", "b"], unit_rows(2), [100, 100], ["wire", "wire"], texts(["a"]))
    w.commit()
    folder = tmp_path / dense.DENSE_DIR
    assert sorted(p.name for p in folder.iterdir()) == [dense.MANIFEST]  # no part written
