"""One index on a Chroma server, shared by one writer and any number of readers (replicas).

On the server, under the index's prefix (``<collection>-<index id>-``):

    <epoch>          every chunk written since the epoch began and not yet collected
    <epoch>-docs     every document (cleaned text and catalog fields), likewise
    versions         one record, ``current``: the published version, its epoch and floor

Rows are never rewritten, only stamped. Every write of a document gets ids of its own
(``server_key``: the document's key and the writing version), a row carries ``qa_v_add`` (the
version that wrote it) and ``qa_v_del`` (the version that deleted it, ``NEVER`` while live), and
version V shows the rows with ``qa_v_add <= V < qa_v_del``. So:

- an ingest writes version P+1 beside P with no copy, and readers of P see nothing of it until
  the writer publishes ``current`` (a killed writer's rows are discarded by the next writer);
- a row deleted at version d is collected once no kept version is older than d (the ``floor``);
- a replica at version j catches up from what changed in (j, V]; one older than the floor
  (whose deletions may be collected) rebuilds from the rows live at V.

An epoch is a collection pair, named after the generation that started it: a rebuild (a new
model, new chunking) starts a new one, and an older epoch is dropped with the last kept
generation that shows it. Each generation's catalog records its epoch and version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.types import Article

if TYPE_CHECKING:
    from qa.index.catalog import Catalog
    from qa.settings import Settings

ADDED, DELETED = "qa_v_add", "qa_v_del"
NEVER = 2**31 - 1
EPOCH_KEY, VERSION_KEY, URL_KEY = "chroma_epoch", "chroma_version", "chroma_url"  # catalog meta of each generation
VERSIONS = "versions"
CURRENT = "current"
_DOC_VECTOR = [1.0]  # Chroma wants a vector per row; documents are never searched by it


def live_at(version: int) -> dict[str, Any]:
    """The rows version ``version`` shows."""
    return {"$and": [{ADDED: {"$lte": version}}, {DELETED: {"$gt": version}}]}


def _stamped_in(key: str, after: int, upto: int) -> dict[str, Any]:
    """Rows whose ``key`` version is in (after, upto]."""
    return {key: {"$in": list(range(after + 1, upto + 1))}} if upto > after else {key: {"$in": [-1]}}


def stamped(metadata: dict[str, Any], version: int) -> dict[str, Any]:
    return {**metadata, ADDED: version, DELETED: NEVER}


def server_key(key: str, version: int) -> str:
    """The key of a document's rows written by ``version`` (its chunk ids start with it): a
    document written again, even with the same content, never overwrites rows that a kept
    version shows, and a killed run's rows are exactly those stamped with its version."""
    from qa.types import short_hash

    return short_hash(f"{key}@{version}")


def version_of(gen: Path) -> int:
    """A writer's generation ``gen-000007`` writes version 7."""
    return int(gen.name.rsplit("-", 1)[1])


@dataclass(frozen=True)
class Version:
    """What ``current`` says: the published version, the epoch it lives in, the oldest version
    whose deletions are all still on the server, and how its chunks were made."""

    version: int
    epoch: str
    floor: int
    model: str
    chunk_chars: str = ""
    chunk_overlap_sentences: str = ""

    def metadata(self) -> dict[str, Any]:
        return {"version": self.version, "epoch": self.epoch, "floor": self.floor, "model": self.model,
                "chunk_chars": self.chunk_chars, "chunk_overlap_sentences": self.chunk_overlap_sentences}

    @classmethod
    def of(cls, meta: dict[str, Any]) -> Version:
        return cls(int(meta["version"]), str(meta["epoch"]), int(meta["floor"]), str(meta["model"]),
                   str(meta.get("chunk_chars", "")), str(meta.get("chunk_overlap_sentences", "")))


class SharedIndex:
    """An index's collections on a Chroma server (``client``), named from ``prefix``."""

    def __init__(self, client: Any, prefix: str):
        self.client = client
        self.prefix = prefix

    def name(self, epoch: str) -> str:
        return self.prefix + epoch

    def chunks(self, epoch: str, *, create: bool = False, embedding_function: Any = None, model: str = "") -> Any:
        if create:
            from qa.index.chroma import CHUNK_HNSW

            return self.client.get_or_create_collection(
                self.name(epoch), embedding_function=embedding_function,
                configuration={"hnsw": dict(CHUNK_HNSW)}, metadata={"qa:model": model},
            )
        return self._existing(self.name(epoch), embedding_function)

    def docs(self, epoch: str, *, create: bool = False) -> Any:
        name = self.name(epoch) + "-docs"
        if create:
            return self.client.get_or_create_collection(name, embedding_function=None)
        return self._existing(name, None)

    def _existing(self, name: str, embedding_function: Any) -> Any:
        """A collection that must be there (IndexMissingError if the server says it is not; any
        other failure is the server's: qa.index.chroma_http)."""
        from chromadb.errors import NotFoundError

        from qa.errors import IndexMissingError, gist

        try:
            return self.client.get_collection(name, embedding_function=embedding_function)
        except NotFoundError as e:
            raise IndexMissingError(f"Chroma server: collection {name} is gone ({gist(e, 120)})") from None

    # ------------------------------------------------------------ the published version
    def current(self) -> Version | None:
        """The published version; None when nothing was ever published (any other failure of
        the server is an error, not "nothing")."""
        from chromadb.errors import NotFoundError

        from qa.errors import QAError, chroma_public, gist

        try:
            col = self.client.get_collection(self.prefix + VERSIONS, embedding_function=None)
        except NotFoundError:
            return None
        except QAError:
            raise  # already one line naming the server
        except Exception as e:
            raise QAError(f"Chroma server: {gist(e)}", public=chroma_public("failed")) from None
        got = col.get(ids=[CURRENT], include=["metadatas"])
        return Version.of(got["metadatas"][0]) if got["ids"] else None

    def publish(self, version: Version) -> None:
        col = self.client.get_or_create_collection(self.prefix + VERSIONS, embedding_function=None)
        col.upsert(ids=[CURRENT], embeddings=[_DOC_VECTOR], documents=[""], metadatas=[version.metadata()])

    # ------------------------------------------------------------ the writer's housekeeping
    def discard_unpublished(self, epoch: str, published: int, go_on: Callable[[], None] | None = None) -> None:
        """Undo what a killed writer did after version ``published``: its rows go, its deletions
        are taken back. ``go_on``: called before each page of deletes, raises to stop (the writer
        is closing)."""
        for col in (self.chunks(epoch), self.docs(epoch)):
            _delete_where(self.client, col, {ADDED: {"$gt": published}}, go_on=go_on)
            # Chroma resolves each condition of an "$and" on its own, so "deleted after `published`"
            # (true of every live row: NEVER) would read the whole collection, 0.15 s at 100k rows
            # at every ingest. Rows deleted at all are few (those kept versions still show).
            got = col.get(where={DELETED: {"$lt": NEVER}}, include=["metadatas"])
            ids = [i for i, meta in zip(got["ids"], got["metadatas"]) if int(meta[DELETED]) > published]
            for part in _batches(ids, max_batch(self.client)):
                if go_on is not None:
                    go_on()
                col.update(ids=part, metadatas=[{DELETED: NEVER}] * len(part))

    def clear_epoch(self, epoch: str) -> None:
        """Remove a new epoch's collections before it starts: a writer killed while starting an
        epoch of the same name (numbers of unpublished generations are reused) left them."""
        from chromadb.errors import NotFoundError

        for name in (self.name(epoch), self.name(epoch) + "-docs"):
            try:
                self.client.delete_collection(name)
            except NotFoundError:  # not there: the usual case (any other failure stops the run: they may be there)
                pass

    def collect(self, epoch: str, floor: int) -> None:
        """Drop the rows no kept version shows: deleted at or before ``floor``."""
        for col in (self.chunks(epoch), self.docs(epoch)):
            _delete_where(self.client, col, {DELETED: {"$lte": floor}})

    def drop_epochs(self, keep: Iterable[str]) -> None:
        """Delete this index's collections but those of the ``keep`` epochs and ``versions``."""
        from chromadb.errors import NotFoundError

        from qa.errors import ServerAnswerError

        wanted = {self.prefix + VERSIONS} | {n for e in keep for n in (self.name(e), self.name(e) + "-docs")}
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(self.prefix) and name not in wanted:
                try:
                    self.client.delete_collection(name)
                except (NotFoundError, ServerAnswerError):  # gone meanwhile, or refused: the next publish drops it
                    pass

    # ------------------------------------------------------------ documents
    def put_documents(self, epoch: str, rows: Sequence[tuple[str, str, dict[str, Any]]], version: int) -> None:
        """(key, cleaned text, catalog fields) of documents written by ``version``."""
        col = self.docs(epoch, create=True)
        for part in _batches(list(rows), max_batch(self.client)):
            col.upsert(ids=[k for k, _, _ in part], documents=[t for _, t, _ in part],
                       metadatas=[stamped(m, version) for _, _, m in part], embeddings=[_DOC_VECTOR] * len(part))

    def delete_documents(self, epoch: str, keys: Sequence[str], version: int) -> None:
        col = self.docs(epoch, create=True)
        for part in _batches(list(keys), max_batch(self.client)):
            col.update(ids=part, metadatas=[{DELETED: version}] * len(part))

    # ------------------------------------------------------------ reading changes
    def ids(self, col: Any, where: dict[str, Any]) -> list[str]:
        """One snapshot of the matching ids (paging with offsets would skip rows that a writer
        restamps meanwhile)."""
        return list(col.get(where=where, include=[])["ids"])

    # Chroma resolves each condition of an "$and" on its own, so one true of nearly every row
    # ("written by upto", "deleted after after": every live row) read the whole collection at
    # every catch-up. Each list is now two selective asks, "written in (after, upto]" and
    # "deleted in (after, upto]" (a short list of versions: a replica older than the floor
    # rebuilds), and their difference. A writer meanwhile stamps only upto + 1, outside both.
    def added(self, col: Any, after: int, upto: int) -> list[str]:
        """Ids of the rows written after version ``after`` and live at ``upto``."""
        gone = set(self.ids(col, _stamped_in(DELETED, after, upto)))
        return [i for i in self.ids(col, _stamped_in(ADDED, after, upto)) if i not in gone]

    def deleted(self, col: Any, after: int, upto: int) -> list[str]:
        """Ids of the rows live at version ``after`` and deleted by ``upto`` (a row both written
        and deleted in between was never seen by a reader at ``after``)."""
        new = set(self.ids(col, _stamped_in(ADDED, after, upto)))
        return [i for i in self.ids(col, _stamped_in(DELETED, after, upto)) if i not in new]

    def fetch(self, col: Any, ids: Sequence[str], include: list[str], page: int = 1000) -> Iterator[Any]:
        for part in _batches(list(ids), page):
            yield col.get(ids=part, include=include)


def max_batch(client: Any) -> int:
    from chromadb.errors import NotFoundError

    from qa.errors import ServerAnswerError

    try:
        n = int(client.get_max_batch_size())
    except (NotFoundError, ServerAnswerError):  # a server without the call
        return 1000
    return n if n > 0 else 1000  # chromadb says -1 when the server does not tell


def _delete_where(
    client: Any, col: Any, where: dict[str, Any], page: int = 300, go_on: Callable[[], None] | None = None
) -> None:
    """Delete the rows matching ``where`` a page at a time (300: a managed Chroma's limit on a
    read): one delete of every row a killed 100k-chunk ingest wrote could outlast the client's
    timeout and fail at every later ingest. Deleted rows stop matching, so each read takes the
    next page; a page that comes back again means the server did not delete it. ``go_on`` is
    called before each page (it raises to stop)."""
    from qa.errors import QAError

    last: list[str] = []
    while True:
        if go_on is not None:
            go_on()
        ids = list(col.get(where=where, limit=min(page, max_batch(client)), include=[])["ids"])
        if not ids:
            return
        if set(ids) & set(last):  # deleted rows stop matching: these were not deleted
            raise QAError(f"Chroma server: rows of {col.name} were not deleted ({len(ids)} still match)")
        col.delete(ids=ids)
        last = ids


def _batches(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def with_server(settings: Settings, catalog: Catalog) -> Settings:
    """The settings to use a generation with: an index written to a Chroma server remembers it,
    so commands on it without --chroma-url use the recorded one. A different --chroma-url is
    accepted only when that server holds the index's published version (the server moved);
    --chroma-url on an index whose vectors are in its own folder is refused (nothing would be
    found there, and its next write would start empty on the server)."""
    from qa.errors import UsageError, index_public

    gen = catalog.path.parent
    from qa.index.server_url import recorded_url

    recorded = recorded_url(catalog.get_meta(URL_KEY))
    given = settings.chroma_url
    if not given:
        return settings.model_copy(update={"chroma_url": recorded}) if recorded else settings
    if recorded == recorded_url(given):  # "http://h:8000/" is "http://h:8000"
        return settings
    if not recorded:
        from qa.index.chroma import CHROMA_DIR

        if (gen / CHROMA_DIR).exists():
            raise UsageError(
                f"index {gen.parent} keeps its vectors in its own folder, not on a Chroma server: drop --chroma-url / "
                "QA_CHROMA_URL (to serve it from a server, ingest its articles into a new index with --chroma-url)",
                public=index_public("keeps its vectors in its own folder, not on the Chroma server the server is set to use"),
            )
        return settings  # an older qa's generation on a server, which recorded no URL
    held = open_shared(settings).current()
    if held is None or held.epoch != catalog.get_meta(EPOCH_KEY):
        raise UsageError(f"index {gen.parent} lives on the Chroma server {recorded}; {given} does not hold it",
                         public=index_public("lives on another Chroma server than the one the server is set to use"))
    return settings


def open_shared(settings: Settings, of: str | None = None) -> SharedIndex:
    """The shared index of the folder ``settings.index`` (its INDEX_ID names it; ``of``: another
    index's id) on the server ``settings.chroma_url``."""
    from qa.index.chroma import http_client, remote_collection_prefix

    return SharedIndex(http_client(settings.chroma_url or "", settings.chroma_headers, settings.chroma_timeout),
                       remote_collection_prefix(settings.collection, settings.resolved_index(), of))


def document_row(article: Article, n_chunks: int, key: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """A document as the server keeps it: (key, cleaned text, catalog fields); ``key``: the one
    the catalog recorded, when an older qa wrote it (its chunk ids start with that)."""
    return key or article.key, article.text, {
        "doc_id": article.doc_id, "title": article.title, "url": article.url, "source": article.source,
        "published_at": article.published_at.isoformat() if article.published_at else "",
        "authors": json.dumps(list(article.authors)), "path": article.path, "n_chunks": n_chunks,
    }


def document_of(text: str, meta: dict[str, Any]) -> tuple[Article, int]:
    """The inverse of ``document_row``: the article and its number of chunks."""
    published = str(meta.get("published_at") or "")
    article = Article(
        doc_id=str(meta["doc_id"]), text=text, title=str(meta.get("title", "")), url=str(meta.get("url", "")),
        source=str(meta.get("source", "")), published_at=date.fromisoformat(published) if published else None,
        authors=tuple(json.loads(str(meta.get("authors") or "[]"))), path=str(meta.get("path", "")),
    )
    return article, int(meta.get("n_chunks", 0))
