"""A replica: a local index folder that follows an index published on a Chroma server.

The writer's machine keeps the catalog and search indexes of its own generations; a replica
(`qa index follow ID`, any number, on any machine) builds the same local search indexes (exact
dense matrix, BM25, a catalog of the documents) from the server's rows and brings them up to date
from what changed since its version (qa.index.shared). Each catch-up is a local generation,
published like a writer's, so readers switch to it between questions; `qa serve` on a replica
checks for a new version every ``replica_poll_seconds``. Losing the folder costs a rebuild from
the server, nothing more.

    replica/
      REPLICA       {"index_id": ..., "chroma_url": ...}: this folder follows that index
      INDEX_ID      the followed index's id (it names the server's collections)
      CURRENT, gen-*/   as any index folder
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa.errors import IndexMissingError, QAError, ServerAnswerError, UsageError, gist, index_public
from qa.settings import Settings

MARKER = "REPLICA"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class SyncReport:
    index_id: str
    version: int
    epoch: str
    full: bool = False
    up_to_date: bool = False
    added_chunks: int = 0
    deleted_chunks: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def marker(root: Path) -> dict[str, str] | None:
    """What a replica folder follows, or None for a writer's index (or no index)."""
    try:
        m = json.loads((root / MARKER).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (ValueError, OSError):
        m = None
    if not isinstance(m, dict) or not isinstance(m.get("index_id"), str) or not isinstance(m.get("chroma_url"), str):
        raise UsageError(f"{root / MARKER}: not a replica marker (JSON with index_id and chroma_url)")
    return m


def is_replica(settings: Settings) -> bool:
    return marker(settings.resolved_index()) is not None


def reading_settings(settings: Settings) -> Settings:
    """A replica's reads go to the server it follows, even when no --chroma-url is given."""
    m = marker(settings.resolved_index())
    if m is None or settings.chroma_url:
        return settings
    from qa.index.server_url import recorded_url

    return settings.model_copy(update={"chroma_url": recorded_url(m.get("chroma_url"))})


def refuse_writes(settings: Settings) -> None:
    m = marker(settings.resolved_index())
    if m is not None:
        raise UsageError(
            f"index {settings.resolved_index()} is a replica of {m.get('index_id')} on {m.get('chroma_url')}: "
            "ingest through the writer's index; a replica only follows it",
            public=index_public("is a replica: it only follows its writer's index; ingest through the writer"),
        )


def follow(settings: Settings, index_id: str) -> SyncReport:
    """Make ``settings.index`` a replica of ``index_id`` on ``settings.chroma_url`` (on an
    existing replica, the recorded server by default) and catch up."""
    from qa.index.generations import Generations, atomic_write_text
    from qa.index.shared import open_shared

    root = settings.resolved_index()
    if not _ID.match(index_id):
        raise UsageError(f"index id {index_id!r}: expected the id `qa index stats --json` shows as index_id")
    m = marker(root)
    if m is not None and m["index_id"] != index_id:
        raise UsageError(f"index {root} already follows {m['index_id']}, not {index_id}")
    from qa.index.server_url import recorded_url

    url = settings.chroma_url or recorded_url((m or {}).get("chroma_url"))
    if not url:
        raise UsageError("qa index follow needs the Chroma server: --chroma-url URL (or QA_CHROMA_URL)")
    settings = settings.model_copy(update={"chroma_url": url})
    # before any file is written: the server answers and holds a published version of that index
    if open_shared(settings, of=index_id).current() is None:
        raise IndexMissingError(f"no index {index_id} published on {url} (collection name {settings.collection!r})")
    generations = Generations(root)
    with generations.writing(wait=True, keep=settings.keep_generations):
        if marker(root) is None and ((root / "INDEX_ID").exists() or generations.all()):
            raise UsageError(f"index {root} is a writer's index, not a replica: follow into an empty folder")
        atomic_write_text(root / "INDEX_ID", index_id + "\n")
        atomic_write_text(root / MARKER, json.dumps({"index_id": index_id, "chroma_url": url}) + "\n")
        report = _sync(settings, generations)
        from qa.embeddings import export_model

        try:  # questions on this replica encode without torch from the next process on (exports are made under the lock)
            export_model(_model_of(root), root, settings.resolved_model_cache())
        except Exception:  # no export: questions use sentence-transformers, as before any ingest
            pass
    return report


ATTEMPTS = 3


def sync(settings: Settings, *, wait: bool = False) -> SyncReport:
    """Bring the replica up to the server's published version (see ``_sync``). IndexBusyError
    if another process is catching up this folder and not ``wait``."""
    from qa.index.generations import Generations

    settings = reading_settings(settings)
    root = settings.resolved_index()
    if marker(root) is None:
        raise UsageError(f"index {root} is not a replica: `qa index follow ID --chroma-url URL --index {root}` makes one")
    generations = Generations(root)
    with generations.writing(wait=wait, keep=settings.keep_generations):
        return _sync(settings, generations)


def _sync(settings: Settings, generations: Any) -> SyncReport:
    """Under the folder's write lock: a new local generation with what changed since the
    replica's version (all of it when there is none, the epoch changed, or the server has
    collected deletions the replica has not seen). A catch-up the writer overtook while it read
    (its floor passed the replica's version, the epoch went, or rows vanished between the ids
    and their fetch) is thrown away and done again from nothing."""
    from qa.index.server_url import recorded_url
    from qa.index.shared import URL_KEY, open_shared

    root = generations.root
    m = marker(root)
    assert m is not None
    started = time.perf_counter()
    shared = open_shared(settings)
    why = ""
    for attempt in range(ATTEMPTS):
        target = shared.current()
        if target is None:
            raise IndexMissingError(f"index {m['index_id']} has published nothing on {settings.chroma_url} yet")
        epoch, at, counts, url = _local_state(generations, URL_KEY)
        report = SyncReport(m["index_id"], target.version, target.epoch)
        keeps_rows = _keeps_rows(generations)  # not: an older qa's replica, whose questions read texts from the server
        same_server = recorded_url(url) == recorded_url(settings.chroma_url)
        if at == target.version and epoch == target.epoch and same_server and keeps_rows:
            report.up_to_date = True
            report.documents, report.chunks = counts
            break
        report.full = (
            attempt > 0 or at is None or epoch != target.epoch or not target.floor <= at <= target.version or not keeps_rows
        )
        try:
            why = _catch_up(settings, generations, shared, target, None if report.full else at, report)
        except (ServerAnswerError, IndexMissingError) as e:  # the server's own error, or a collection gone
            why = _read_again(shared, target, root, e)
        except QAError:
            raise  # the server did not answer, or the replica cannot be used: reading again changes nothing
        except Exception as e:
            why = _read_again(shared, target, root, e)
        if not why:
            break
    else:
        raise QAError(f"replica {root}: gave up after {ATTEMPTS} catch-ups ({why}); try again")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _read_again(shared: Any, target: Any, root: Path, e: Exception) -> str:
    """After a read that failed: why to read again when the writer published meanwhile (an
    epoch it dropped under the read); else the failure, on one line."""
    after = shared.current()
    if after is not None and (after.epoch, after.version) == (target.epoch, target.version):
        raise QAError(f"replica {root}: reading the Chroma server failed: {gist(e)}") from None
    return "the writer published while the replica read"


def _keeps_rows(generations: Any) -> bool:
    from qa.index import dense

    cur = generations.current()
    return cur is not None and dense.has_rows(cur)


def _local_state(generations: Any, url_key: str) -> tuple[str | None, int | None, tuple[int, int], str | None]:
    """(epoch, version, (documents, chunks), server URL) of the replica's published generation."""
    from qa.index.catalog import Catalog
    from qa.index.shared import EPOCH_KEY, VERSION_KEY

    cur = generations.current()
    if cur is None:
        return None, None, (0, 0), None
    cat = Catalog(cur)
    try:
        version = cat.get_meta(VERSION_KEY)
        return cat.get_meta(EPOCH_KEY), int(version) if version else None, cat.counts(), cat.get_meta(url_key)
    finally:
        cat.close()


def _catch_up(settings: Settings, generations: Any, shared: Any, target: Any, since: int | None, report: SyncReport) -> str:
    """Write the next local generation at ``target``'s version: from the one before it with the
    rows changed after version ``since``, or from nothing (``since`` None), and publish it.
    Returns "" once published, else why it threw the generation away (see ``_sync``)."""
    import shutil

    import numpy as np

    from qa.index import dense as dense_mod
    from qa.index import lexical as lexical_mod
    from qa.index import migrations
    from qa.index.catalog import Catalog
    from qa.index.lexical import lexical_text
    from qa.index.reader import MODEL_KEY
    from qa.index.records import from_chroma
    from qa.index.shared import (
        EPOCH_KEY,
        URL_KEY,
        VERSION_KEY,
        document_of,
        live_at,
    )

    v = target.version
    docs, chunks = shared.docs(target.epoch), shared.chunks(target.epoch)
    if since is None:
        added_docs, gone_docs = shared.ids(docs, live_at(v)), []
        added, gone = shared.ids(chunks, live_at(v)), []
    else:
        added_docs, gone_docs = shared.added(docs, since, v), shared.deleted(docs, since, v)
        added, gone = shared.added(chunks, since, v), shared.deleted(chunks, since, v)
    gen = generations.new_generation(copy_current=since is not None)
    catalog = Catalog(gen, writable=True)
    lexical = None
    fetched = 0
    try:
        migrations.apply(catalog.db, gen)
        dense = dense_mod.DenseWriter(gen)
        lexical = lexical_mod.LexicalWriter(gen)
        for got in shared.fetch(docs, gone_docs, ["metadatas"]):  # first: a changed article's new row follows
            fetched += len(got["ids"])
            for meta in got["metadatas"]:
                catalog.delete(str(meta["doc_id"]))
                lexical.delete_doc(str(meta["doc_id"]))
        dense.delete(gone + added)  # an id deleted and written again comes back once
        for got in shared.fetch(docs, added_docs, ["documents", "metadatas"]):
            fetched += len(got["ids"])
            for key, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                article, n = document_of(text or "", meta)
                lexical.delete_doc(article.doc_id)
                catalog.put(article, n, key)
        for got in shared.fetch(chunks, added, ["documents", "metadatas", "embeddings"], page=500):
            fetched += len(got["ids"])
            ids, texts = list(got["ids"]), [t or "" for t in got["documents"]]
            records = [from_chroma(meta) for meta in got["metadatas"]]
            dense.add(ids, np.asarray(got["embeddings"], dtype=np.float32), [r.published_day for r in records],
                      [r.source for r in records], list(zip(texts, records)))
            lexical.add((cid, r.doc_id, r.published_day, r.source, lexical_text(r.title, r.published_iso, t))
                        for cid, r, t in zip(ids, records, texts))
        after = shared.current()
        why = ""
        if fetched != len(gone_docs) + len(added_docs) + len(added):
            why = "rows were collected between their ids and their fetch"
        elif after is None or after.epoch != target.epoch or after.floor > (since if since is not None else v):
            why = "the writer collected deletions this catch-up needed"
        if why:
            lexical.rollback()
            catalog.close()
            shutil.rmtree(gen, ignore_errors=True)
            return why
        for key, value in ((MODEL_KEY, target.model), ("chunk_chars", target.chunk_chars),
                           ("chunk_overlap_sentences", target.chunk_overlap_sentences),
                           (EPOCH_KEY, target.epoch), (VERSION_KEY, str(v)), (URL_KEY, settings.chroma_url or "")):
            if value:
                catalog.set_meta(key, value)
        catalog.commit()
        lexical.commit()
        dense.commit()
        report.added_chunks, report.deleted_chunks = len(added), len(gone)
        report.documents, report.chunks = catalog.counts()
        live = len(dense_mod.DenseIndex(gen))
        if live != report.chunks:  # the catalog and the search indexes must agree before anyone reads them
            catalog.close()
            shutil.rmtree(gen, ignore_errors=True)
            return f"the server's rows disagree with its documents ({live} chunks for {report.chunks})"
    except BaseException:
        if lexical is not None:
            lexical.rollback()
        catalog.close()
        shutil.rmtree(gen, ignore_errors=True)  # never left beside the next attempt's generation
        raise
    finally:
        catalog.close()
    generations.publish(gen, keep=settings.keep_generations)
    return ""


def _model_of(root: Path) -> str:
    from qa.index.catalog import Catalog
    from qa.index.generations import Generations
    from qa.index.reader import MODEL_KEY

    gen = Generations(root).current()
    if gen is None:
        raise IndexMissingError(f"no index at {root}")
    cat = Catalog(gen)
    try:
        return cat.get_meta(MODEL_KEY) or ""
    finally:
        cat.close()
