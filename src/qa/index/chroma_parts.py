"""An embedded index's Chroma store, in parts that are written once and shared by generations.

    index/
      chroma-parts/p-<hex>/          one Chroma folder, written by the generation that created it
      chroma-parts/p-<hex>.ids.json  its chunk ids, as written
      gen-000007/chroma/qa-parts.json
          {"parts": ["p-…", …], "rows": {"p-…": n}, "deleted": {"p-…": [chunk ids]}}
      gen-000003/chroma/chroma.sqlite3, …   an older qa's single store (the part ``root``)

A small ingest used to copy the whole store into its new generation (at 100k chunks a 900 MB
SQLite file: ~0.8 s to copy and ~1.2 s for Chroma's first commit to flush it). Now a generation
lists the parts it shows: a writer writes its chunks into a new part, lists the chunks it deletes
from older parts in its own manifest (every read drops those: Chroma's search with
``QA_DENSE_SEARCH=hnsw``, ``get``, an upgrade's backfill), and publishes. A small ingest costs what
it adds; a killed writer leaves a part no generation lists, which the next commit removes, and
every published generation whole.

Parts live once per index rather than once per generation because Chroma rewrites a store's
files even when a process only reads it: every reader of a part opens it by the same path (one
Chroma system per path in a process, and SQLite's rollback journal where the next opener looks),
never a second name for the same files. A writer never opens a published part: parts are merged
from the rows the dense parts keep (the same chunks, texts, records and vectors), and an
upgrade's backfill reads a private copy.

Merging is tiered: parts whose live sizes are within a factor FANOUT of each other are merged
once FANOUT of them pile up, so a chunk is written again about log_FANOUT(index / ingest)
times over its life and a small ingest never rewrites the big parts. A part more than half
deleted is written again whatever its size (deleting half an index costs rewriting the other
half once).

An older qa's single store is moved (renamed, no copy) into ``chroma-parts`` by the first write
of this qa, from the writer's own copy of it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `qa index stats` reads the part lists without numpy or chromadb
    import numpy as np

    from qa.index.chroma import Hit, VectorStore
    from qa.index.filters import SearchFilters
    from qa.index.records import ChunkRecord
    from qa.types import Chunk

    # (ids, texts, records, vectors) of live chunks, by id: the dense parts' copy of them
    RowSource = Callable[[list[str]], tuple[list[str], list[str], list[ChunkRecord], np.ndarray]]

CHROMA_DIR = "chroma"  # a generation's folder for Chroma: its part list (or an older qa's single store)
PARTS_DIR = "chroma-parts"  # in the index folder
MANIFEST = "qa-parts.json"  # in each generation's chroma/
ROOT = "root"  # an older qa's single store, at the generation's chroma/ itself
FANOUT = 4  # this many parts of one size tier are merged into one
REWRITE_DELETED = 0.5  # a part is written again once more than this share of it is deleted
MERGE_BATCH = 5000  # rows read from the dense parts and written to Chroma at a time by a merge


def parts_of(gen: Path) -> list[str]:
    """The parts a generation's manifest lists (none for an older qa's single store)."""
    manifest = _read_manifest(gen / CHROMA_DIR)
    return list(manifest.get("parts", [])) if manifest else []


def parts_size(gen: Path) -> int:
    """Bytes of the parts ``gen`` lists (they live beside the generations, see the module doc)."""
    from qa.index.reader import folder_size

    folder = gen.parent / PARTS_DIR
    return sum(folder_size(folder / p) for p in parts_of(gen))


def remove_unlisted(root: Path) -> None:
    """Remove the parts no generation of the index ``root`` lists: a killed writer's, and those
    of generations since removed. The caller holds the writer lock."""
    folder = root / PARTS_DIR
    if not folder.is_dir():
        return
    from qa.index.generations import Generations

    listed = {p for gen in Generations(root).all() for p in parts_of(gen)}
    for item in folder.iterdir():
        name = item.name.removesuffix(".ids.json")
        if name.startswith(".p-") and ".ids.json." in name:  # a killed writer's unfinished list
            item.unlink(missing_ok=True)
        elif name.startswith("p-") and name not in listed:
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)


def _stray_rows(path: Path) -> bool:
    """Whether a single Chroma store found beside a part list holds chunks (an older qa wrote
    into it) rather than being an empty one an older reader created by opening the folder.
    Read with SQLite, read-only: Chroma would rewrite it."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return True


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None


class PartedStore:
    """A generation's Chroma store, as VectorStore's interface over the parts it lists."""

    remote = False
    shared: Any = None
    epoch: str | None = None
    version: int | None = None

    def __init__(self, gen: Path, *, collection: str, model: str, device: str = "cpu", writable: bool = False):
        self.gen = gen
        self.folder = gen / CHROMA_DIR
        self.parts_folder = gen.parent / PARTS_DIR
        self.writable = writable
        self._open = {"collection": collection, "model": model, "device": device}
        manifest = _read_manifest(self.folder)
        legacy = (self.folder / "chroma.sqlite3").exists()
        if manifest is not None:
            if legacy and _stray_rows(self.folder / "chroma.sqlite3"):
                from qa.errors import QAError, index_public

                raise QAError(
                    f"{self.folder}: chunks in a single Chroma store beside this qa's part list (written by an "
                    "older qa while this one used the index?); run `qa index rebuild`",
                    public=index_public("is damaged (chunks in a Chroma store beside its part list)"),
                )
            self.parts: list[str] = list(manifest.get("parts", []))
            self.rows: dict[str, int] = {p: int(n) for p, n in manifest.get("rows", {}).items()}
            self.deleted: dict[str, set[str]] = {p: set(v) for p, v in manifest.get("deleted", {}).items()}
        else:  # an older qa's single store, or none yet
            self.parts = [ROOT] if legacy else []
            self.rows, self.deleted = {}, {}
        self._stores: dict[str, VectorStore] = {}
        self._ids: dict[str, list[str]] = {}  # part → its ids as written, read when needed
        self._own: str | None = None  # the part this writer writes
        self._own_ids: list[str] = []
        self._where: dict[str, str] | None = None  # live chunk id → its part, built when needed
        self._lock = threading.RLock()  # a server's threads share one reader: parts are opened once
        self._created: list[str] = []  # parts this writer made (sealed, merged, copied, adopted): synced at commit
        self._copies: dict[str, str] = {}  # published part → this writer's private copy listed in its place

    # ------------------------------------------------------------ reading
    def count(self) -> int:
        return sum(self._size(p) for p in self._all())

    def query(self, vector: np.ndarray, n: int, filters: SearchFilters | None = None) -> list[Hit]:
        """Each part's best ``n`` live hits, merged by similarity. A part with deleted rows is
        asked for twice as many, then more while deleted rows crowd out live ones (at most
        ``n`` + its deleted rows)."""
        hits: list[Hit] = []
        for part in self._all():
            dead = self.deleted.get(part, set())
            ask = min(2 * n, n + len(dead)) if dead else n
            store = self._store(part)
            while True:
                found = store.query(vector, ask, filters)
                live = [h for h in found if h.chunk_id not in dead]
                if len(live) >= n or len(found) < ask or ask >= n + len(dead):
                    break
                ask = min(2 * ask, n + len(dead))
            hits += live
        return sorted(hits, key=lambda h: h.similarity, reverse=True)[:n]

    def get(self, ids: Sequence[str]) -> list[tuple[str, str, ChunkRecord, np.ndarray]]:
        return [row for part, some in self._by_part(ids) for row in self._store(part).get(some)]

    def texts(self, ids: Sequence[str]) -> list[tuple[str, str, ChunkRecord]]:
        return [row for part, some in self._by_part(ids) for row in self._store(part).texts(some)]

    def pages(self, page: int = 2000) -> Iterator[tuple[list[str], list[str], list[ChunkRecord], np.ndarray]]:
        for part in self._all():
            dead = self.deleted.get(part, set())
            for ids, texts, records, vectors in self._store(part).pages(page):
                keep = [i for i, cid in enumerate(ids) if cid not in dead]
                if keep:
                    yield [ids[i] for i in keep], [texts[i] for i in keep], [records[i] for i in keep], vectors[keep]

    def live(self) -> dict[str, tuple[str, ChunkRecord]]:
        """Every live chunk: id → (text, record)."""
        from qa.index.chroma import rows_of

        return rows_of(self.pages())

    # ------------------------------------------------------------ writing
    def add(self, chunks: Sequence[Chunk], records: Sequence[ChunkRecord], embeddings: np.ndarray) -> None:
        if not chunks:
            return
        self._own_store().add(chunks, records, embeddings)
        self._own_ids += [c.chunk_id for c in chunks]
        self._where = None

    def delete(self, ids: Sequence[str]) -> None:
        """This writer's own chunks are deleted from its part; a published part's are listed as
        deleted in this generation's manifest (the part itself is never written again)."""
        doomed = set(ids)
        self._where = None
        mine = [cid for cid in self._own_ids if cid in doomed]
        if mine:
            self._store(self._own or "").delete(mine)
            gone = set(mine)
            self._own_ids = [cid for cid in self._own_ids if cid not in gone]
        for part in self.parts:
            dead = self.deleted.setdefault(part, set())
            dead |= doomed.intersection(self._part_ids(part)) - dead

    def commit(self, rows: RowSource | None = None) -> None:
        """Seal this writer's part, move an older qa's single store among the parts, merge parts
        (``rows``: the live chunks by id, from the dense parts), then write the manifest that
        makes the parts this generation's."""
        if not self.writable:
            raise RuntimeError("a read-only Chroma store cannot commit")
        if self._own is not None:
            self._seal_own()
        if ROOT in self.parts:
            self._adopt_root()
        for part in [p for p in self.parts if self._size(p) == 0]:
            self._unlist(part)
        if rows is not None:
            self._merge(rows)
        self._sync_created()
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_json(
            self.folder / MANIFEST,
            {
                "parts": self.parts,
                "rows": {p: self.rows[p] for p in self.parts},
                "deleted": {p: sorted(v) for p, v in self.deleted.items() if v and p in self.parts},
            },
        )

    def close(self) -> None:
        for part in list(self._stores):
            self._close_part(part)

    # ------------------------------------------------------------ internals
    def _all(self) -> list[str]:
        return self.parts + ([self._own] if self._own is not None else [])

    def _path(self, part: str) -> Path:
        return self.folder if part == ROOT else self.parts_folder / part

    def _size(self, part: str) -> int:
        """Live chunks of a part."""
        if part == self._own:
            return len(self._own_ids)
        n = self.rows.get(part)
        if n is None:
            n = self.rows[part] = len(self._part_ids(part))
        return n - len(self.deleted.get(part, ()))

    def _store(self, part: str) -> VectorStore:
        with self._lock:
            return self._open_part(part)

    def _open_part(self, part: str) -> VectorStore:
        part = self._copies.get(part, part)
        store = self._stores.get(part)
        if store is None:
            path = self._path(part)
            if not path.is_dir():
                from qa.errors import QAError, index_public

                raise QAError(f"{self.gen}: its Chroma part {path} is missing; run `qa index rebuild`",
                              public=index_public("is damaged (a Chroma part it lists is missing)"))
            if self.writable and part not in (self._own, ROOT):
                part = self._private_copy(part)
                path = self._path(part)
            from qa.index.chroma import VectorStore

            store = VectorStore(self.gen, folder=path, writable=self.writable, **self._open)  # type: ignore[arg-type]
            self._stores[part] = store
        return store

    def _private_copy(self, part: str) -> str:
        """A writer that must read a published part (an upgrade's backfill) reads a copy of it,
        which this generation lists in its place: Chroma would rewrite the published files.
        The copy is taken while no reader has the index open for reading (as a generation copy is)."""
        from qa.index.generations import exclusive

        name = f"p-{uuid.uuid4().hex[:12]}"
        with exclusive(self.gen.parent / ".read.lock"):
            shutil.copytree(self._path(part), self._path(name))
        shutil.copyfile(self.parts_folder / f"{part}.ids.json", self.parts_folder / f"{name}.ids.json")
        self.parts[self.parts.index(part)] = name
        self._copies[part] = name
        self.rows[name] = self.rows.pop(part, len(self._part_ids(part)))
        if part in self.deleted:
            self.deleted[name] = self.deleted.pop(part)
        if part in self._ids:
            self._ids[name] = self._ids.pop(part)
        self._created.append(name)
        self._where = None
        return name

    def _own_store(self) -> VectorStore:
        if not self.writable:
            raise RuntimeError("a read-only Chroma store cannot be written")
        if self._own is None:
            self._own = f"p-{uuid.uuid4().hex[:12]}"
            self._path(self._own).mkdir(parents=True)
        return self._store(self._own)

    def _seal_own(self) -> None:
        """This writer's part is complete: closed, its ids listed, one of the parts."""
        assert self._own is not None
        self._close_part(self._own)
        _write_json(self.parts_folder / f"{self._own}.ids.json", self._own_ids)
        self.parts.append(self._own)
        self.rows[self._own] = len(self._own_ids)
        self._ids[self._own] = self._own_ids
        self._created.append(self._own)
        self._own, self._own_ids = None, []

    def _adopt_root(self) -> None:
        """An older qa's single store (this writer's own copy of it) becomes a part: its files
        are renamed into the parts folder, no copy."""
        ids = self._part_ids(ROOT)
        self._close_part(ROOT)
        name = f"p-{uuid.uuid4().hex[:12]}"
        target = self._path(name)
        target.mkdir(parents=True)
        for item in list(self.folder.iterdir()):
            if item.name != MANIFEST and not item.name.startswith(f".{MANIFEST}"):
                os.replace(item, target / item.name)
        _write_json(self.parts_folder / f"{name}.ids.json", ids)
        self.parts[self.parts.index(ROOT)] = name
        self.rows[name] = len(ids)
        self.rows.pop(ROOT, None)
        if ROOT in self.deleted:
            self.deleted[name] = self.deleted.pop(ROOT)
        self._ids[name] = self._ids.pop(ROOT)
        self._created.append(name)
        self._where = None

    def _close_part(self, part: str) -> None:
        store = self._stores.pop(part, None)
        if store is not None:
            store.close()

    def _part_ids(self, part: str) -> list[str]:
        if part == self._own:
            return self._own_ids
        ids = self._ids.get(part)
        if ids is None:
            if part == ROOT:  # an older qa's single store keeps no list: ask it
                ids = self._store(part).ids()
            else:
                ids = json.loads((self.parts_folder / f"{part}.ids.json").read_text())
            self._ids[part] = ids
        return ids

    def _by_part(self, ids: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
        with self._lock:
            if self._where is None:
                self._where = {cid: part for part in self._all() for cid in self._live_ids(part)}
            where = self._where
        grouped: dict[str, list[str]] = {}
        for cid in dict.fromkeys(ids):
            part = where.get(cid)
            if part is not None:
                grouped.setdefault(part, []).append(cid)
        yield from grouped.items()

    def _live_ids(self, part: str) -> list[str]:
        dead = self.deleted.get(part, set())
        return [cid for cid in self._part_ids(part) if cid not in dead]

    def _merge(self, rows: RowSource) -> None:
        """Merge the parts of a full size tier (and any part mostly deleted) into one, from the
        dense parts' rows, until no tier is full. A merge the dense parts cannot serve is left
        undone: merging saves reads, it is never needed for correctness."""
        while True:
            chosen = [p for p in self.parts if self._mostly_deleted(p)]
            tiers: dict[int, list[str]] = {}
            for p in self.parts:
                tiers.setdefault(_tier(self._size(p)), []).append(p)
            full = [ps for _, ps in sorted(tiers.items()) if len(ps) >= FANOUT]
            chosen += [p for p in (full[0] if full else []) if p not in chosen]
            if not chosen:
                return
            ids = [cid for p in chosen for cid in self._live_ids(p)]
            for i in range(0, len(ids), MERGE_BATCH):  # a batch at a time: a big part's texts never all in memory
                try:
                    got_ids, texts, records, vectors = rows(ids[i : i + MERGE_BATCH])
                except (OSError, ValueError):  # a dense part lost its rows files: the next upgrade mends it
                    got_ids = []
                if len(got_ids) != len(ids[i : i + MERGE_BATCH]):
                    self._discard_own()
                    return
                self._own_store().add_rows(got_ids, texts, records, vectors)
                self._own_ids += got_ids
            for part in chosen:
                self._unlist(part)
            if self._own is not None:
                self._seal_own()

    def _sync_created(self) -> None:
        """The parts this writer made reach the disk before a manifest lists them (the
        generation's own files are synced by its publish; these live beside it)."""
        from qa.index.generations import _fsync_dir, _fsync_tree

        made = [p for p in self._created if p in self.parts]
        for part in made:  # (their id lists were written durably: _write_json)
            _fsync_tree(self._path(part))
        if made:
            _fsync_dir(self.parts_folder)
            _fsync_dir(self.parts_folder.parent)
        self._created = []

    def _discard_own(self) -> None:
        """Drop a merge's unfinished part (never listed; this generation is not yet published)."""
        if self._own is not None:
            self._close_part(self._own)
            shutil.rmtree(self._path(self._own), ignore_errors=True)
            self._own, self._own_ids = None, []

    def _mostly_deleted(self, part: str) -> bool:
        n = self.rows.get(part) or 0
        return n > 0 and len(self.deleted.get(part, ())) / n > REWRITE_DELETED

    def _unlist(self, part: str) -> None:
        """Drop a part from this generation's list (its files stay while a kept generation lists
        it; ``remove_unlisted`` collects them)."""
        self._close_part(part)
        self._where = None
        self.parts.remove(part)
        self.rows.pop(part, None)
        self.deleted.pop(part, None)
        self._ids.pop(part, None)


def _tier(n: int) -> int:
    return int(math.log(max(n, 1), FANOUT))


def _write_json(path: Path, data: Any) -> None:
    """Atomically and durably (generations.atomic_write_text), its folder made first."""
    from qa.index.generations import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data))
