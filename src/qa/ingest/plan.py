"""The ingest plan: the one place that decides what becomes of each article — unchanged, indexed
(added or replaced), an alias of the document it duplicates, or forgotten — and the one ``forget``.

The planner holds no writer. It keeps what it knows of the index in ``PlanState`` and asks the
index for changes through ``Steps`` (``qa.ingest.execute.Executor`` carries them out; a test can
record them). Steps are calls, not returned objects, because two decisions need the index's answer
while planning: which aliases a forgotten document had, and where an id is recorded once one of its
origins is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.index.catalog import Alias, Catalog
from qa.ingest.chunk import chunk_article
from qa.ingest.neardup import NearDuplicateIndex, signature
from qa.ingest.report import IngestReport
from qa.ingest.scope import PruneScope, is_file_record, is_gone, is_relative_record, may_provide
from qa.ingest.spool import Spool
from qa.settings import IngestSettings, Settings
from qa.types import Article, Chunk


class Steps(Protocol):
    """What the plan asks of the index being written."""

    def expect_index(self) -> None:
        """A new or changed article that is not an exact duplicate is about to be placed: it will
        most likely be indexed, so the encoder may start being made (before the new generation)."""

    def index(self, article: Article, chunks: list[Chunk], sig: np.ndarray) -> None:
        """Embed and write ``article`` with its chunks and near-duplicate signature."""

    def delete(self, doc_id: str) -> None:
        """Remove an indexed document (chunks, catalog row, signature); its aliases stay."""

    def put_alias(self, alias: Alias) -> None: ...

    def delete_alias(self, alias_id: str) -> None: ...

    def alias_rows(self, doc_id: str) -> list[Alias]:
        """The aliases recorded for ``doc_id`` in the index being written, oldest first."""

    def put_signature(self, doc_id: str, sig: np.ndarray) -> None: ...

    def add_source(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id`` and that it was last read there."""

    def add_origin(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id``; where it was last read stays."""

    def remove_source(self, doc_id: str, path: str) -> str | None:
        """``path`` no longer provides ``doc_id``; returns where it is recorded now (None: nowhere)."""

    def drop_sources(self, doc_id: str) -> None: ...


def chunks(article: Article, settings: IngestSettings) -> list[Chunk]:
    """How an article is chunked for the index (ingest and rebuild alike)."""
    return chunk_article(article, target_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap_sentences)


@dataclass(frozen=True)
class _Taken:
    """The latest record of an id read in this run: its place in the run, its origin, its hash."""

    n: int
    path: str
    line: int | None
    hash: str


@dataclass
class PlanState:
    """What the plan knows of the index while an ingest runs."""

    known: dict[str, tuple[str, int]]  # indexed doc_id → (content hash, chunks)
    by_text: dict[str, str]  # body hash → indexed doc_id
    aliases: dict[str, str]  # alias_id → the indexed doc_id it duplicates
    alias_hashes: dict[str, str]  # alias_id → content hash (aliases whose content is stored)
    sources: dict[str, set[str]]  # doc_id or alias_id → every recorded origin that provided it
    paths: dict[str, str]  # doc_id or alias_id → the origin it was last read from
    near: NearDuplicateIndex  # MinHash LSH over the indexed documents
    text_of: dict[str, str] = field(init=False)  # indexed doc_id → body hash (by_text inverted)

    def __post_init__(self) -> None:
        self.text_of = {d: h for h, d in self.by_text.items()}

    @classmethod
    def of(cls, base: Catalog | None) -> PlanState:
        """The state of the published catalog ``base`` (None: an empty index)."""
        if base is None:
            return cls({}, {}, {}, {}, {}, {}, NearDuplicateIndex())
        return cls(
            known=base.hashes(),
            by_text=base.text_hashes(),
            aliases=base.aliases(),
            alias_hashes=base.alias_hashes(),
            sources=base.sources(),
            paths=base.recorded_paths(),
            near=NearDuplicateIndex(base.signatures()),
        )


class Planner:
    """Plans each article read in a run against ``state`` and emits the changes to ``steps``;
    counts every outcome in ``report``. A run's articles are taken (``take``) and planned once
    the reading ends (``plan_taken``): the last record of an id read in a run is the one planned.
    ``reread(doc_id, path)`` reads a document again from a file recorded for it (None when that
    file is gone or no longer carries it): an alias an older index kept only as a path, a story
    whose last-read file was pruned."""

    def __init__(
        self,
        state: PlanState,
        steps: Steps,
        settings: Settings,
        report: IngestReport,
        reread: Callable[[str, str], Article | None],
    ):
        self.state, self.steps, self.settings, self.report, self.reread = state, steps, settings, report, reread
        self.read: set[str] = set()  # ids read in this run: each read counts once in the report
        self.held: dict[str, set[str]] = {}  # recorded path → the ids read from it in this run
        self.replanned: dict[str, str] = {}  # id → outcome of a re-planned alias not read (yet)
        self.latest: dict[str, _Taken] = {}  # id → its latest record taken in this run
        self.taken: Spool[tuple[str, str, Article | None]] = Spool()  # (id, origin, article; None: unchanged), in order
        self._n_taken = 0

    # ------------------------------------------------------------ the run's articles
    def take(self, article: Article) -> None:
        """An article read in this run, kept until the reading ends: a later record of its id may
        replace it. A record replaced by a different one is counted as skipped and named in a
        warning; by the same one, as unchanged. Only an article to write is kept whole (an
        unchanged one: its id and origin), so an unchanged re-ingest keeps little."""
        doc_id = article.doc_id
        self._note_read(doc_id, article.path)
        prior = self.latest.get(doc_id)
        if prior is not None:
            self._replaced(doc_id, prior, article)
        self.latest[doc_id] = _Taken(self._n_taken, article.path, article.line, article.hash)
        self._n_taken += 1
        unchanged = self._unchanged(article)
        if not unchanged and self._exact_twin(article) is None:
            self.steps.expect_index()  # it will most likely be indexed: the encoder is made while the rest is read
        self.taken.add((doc_id, article.path, None if unchanged else article))

    def _replaced(self, doc_id: str, prior: _Taken, by: Article) -> None:
        if prior.hash == by.hash:
            self.report.unchanged += 1  # the same record again: nothing lost
            return
        self.report.skipped += 1
        where = by.path if by.line is None else f"{by.path}:{by.line}"
        self.report.warn(prior.path, f"duplicate id {doc_id!r}: replaced by the record read after it at {where} "
                         "(the last one read is kept)", prior.line)

    def plan_taken(self) -> None:
        """Plan the articles taken, in the order read: each id's last record; an earlier record of
        the id records its file as one that provides the story (``--prune`` keeps the story while
        that file holds it), and nothing else."""
        for n, (doc_id, path, article) in enumerate(self.taken.drain()):
            if self.latest[doc_id].n != n:
                self._record_origin(doc_id, path)
            elif article is None:
                self._plan_unchanged(doc_id, path)
            else:
                self.plan(article)
        self.latest.clear()
        self._n_taken = 0

    # ------------------------------------------------------------ one article
    def plan(self, article: Article) -> None:
        """An article read in this run, planned now (``take`` reads a run's inputs; a story whose
        file is pruned is read again from another, and planned at once)."""
        s, doc_id = self.state, article.doc_id
        self._note_read(doc_id, article.path)
        if self._unchanged(article):
            self._plan_unchanged(doc_id, article.path)
            return
        if self._exact_twin(article) is None:
            self.steps.expect_index()
        self._record_source(doc_id, article.path, unchanged=False)
        prior, had_content = s.aliases.get(doc_id), doc_id in s.alias_hashes
        was_indexed = doc_id in s.known
        if prior is not None:
            self._unalias(doc_id)
        target = self._place(article)
        if target is None:
            if was_indexed:
                self.report.updated += 1
            else:
                self.report.added += 1
        elif target != prior:
            self.report.duplicates += 1
        elif had_content:
            self.report.updated += 1  # the same duplicate with other metadata
        else:
            self.report.unchanged += 1  # an older alias row, now with its content stored

    def _note_read(self, doc_id: str, path: str) -> None:
        self.read.add(doc_id)
        self.held.setdefault(path, set()).add(doc_id)
        self.replanned.pop(doc_id, None)  # this read's outcome counts instead

    def _plan_unchanged(self, doc_id: str, path: str) -> None:
        self._record_source(doc_id, path, unchanged=True)
        self.report.unchanged += 1

    def _unchanged(self, article: Article) -> bool:
        s = self.state
        known = s.known.get(article.doc_id)
        if known is not None:
            return known[0] == article.hash
        return s.alias_hashes.get(article.doc_id) == article.hash

    def _record_source(self, doc_id: str, path: str, unchanged: bool) -> None:
        """Record that ``path`` provides ``doc_id`` (several files may; the path column names the
        one its text was last read from, or the latest one recorded when that file is gone). A
        file read now replaces the relative paths an older index recorded for it."""
        s = self.state
        have = s.sources.setdefault(doc_id, set())
        stale = {p for p in have if is_relative_record(p)} if is_file_record(path) else set()
        last = s.paths.get(doc_id, path)
        if path in have and not stale and (last == path or (unchanged and may_provide(last))):
            return  # nothing to write: an unchanged re-ingest writes nothing (its text is the same, wherever read)
        for old in stale:
            self._remove_source(doc_id, old)
        self.steps.add_source(doc_id, path)
        have.add(path)
        s.paths[doc_id] = path

    def _record_origin(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id``, not moving where its text was last read."""
        s = self.state
        have = s.sources.setdefault(doc_id, set())
        if path not in have:
            self.steps.add_origin(doc_id, path)
            have.add(path)
        s.paths.setdefault(doc_id, path)

    def _remove_source(self, doc_id: str, path: str) -> None:
        s = self.state
        last = self.steps.remove_source(doc_id, path)
        s.sources.get(doc_id, set()).discard(path)
        if last is None:
            s.paths.pop(doc_id, None)
        else:
            s.paths[doc_id] = last

    def _place(self, article: Article) -> str | None:
        """Index ``article``, or alias it to the document it duplicates (returned)."""
        twin, sig = self._twin(article)
        if twin is None:
            self._index(article, sig)
            return None
        if article.doc_id in self.state.known:  # it had its own text; now it repeats another's
            self.forget(article.doc_id)
        self._alias(article, twin)
        return twin

    def _exact_twin(self, article: Article) -> str | None:
        """The other indexed document with exactly ``article``'s text, if any."""
        exact = self.state.by_text.get(article.text_hash)
        return exact if exact is not None and exact != article.doc_id else None

    def _twin(self, article: Article) -> tuple[str | None, np.ndarray | None]:
        """The indexed document ``article`` duplicates (exactly, else nearly), and its signature."""
        exact = self._exact_twin(article)
        if exact is not None:
            return exact, None
        sig = signature(article.text)
        return self.state.near.find(article.doc_id, sig), sig

    def _index(self, article: Article, sig: np.ndarray | None) -> None:
        s, doc_id = self.state, article.doc_id
        if sig is None:
            sig = signature(article.text)
        parts = chunks(article, self.settings)
        text_changed = False
        if doc_id in s.known:
            text_changed = self._drop_text_hashes(doc_id) != {article.text_hash}
            self.steps.delete(doc_id)
        s.near.add(doc_id, sig)
        s.known[doc_id] = (article.hash, len(parts))
        s.by_text[article.text_hash] = doc_id
        s.text_of[doc_id] = article.text_hash
        self.steps.index(article, parts, sig)
        if text_changed:  # its duplicates may no longer be duplicates of it
            self._replan_aliases_of(doc_id)

    def _alias(self, article: Article, twin: str) -> None:
        s = self.state
        self.steps.put_alias(Alias.of(article, twin))
        s.aliases[article.doc_id] = twin
        s.alias_hashes[article.doc_id] = article.hash

    def _unalias(self, alias_id: str) -> None:
        s = self.state
        self.steps.delete_alias(alias_id)
        s.aliases.pop(alias_id, None)
        s.alias_hashes.pop(alias_id, None)

    def _drop_text_hashes(self, doc_id: str) -> set[str]:
        """Forget which body ``doc_id`` had; returns the hash it was indexed under (if any)."""
        s = self.state
        h = s.text_of.pop(doc_id, None)
        if h is None or s.by_text.get(h) != doc_id:
            return set()
        del s.by_text[h]
        return {h}

    # ------------------------------------------------------------ forgetting
    def forget(self, doc_id: str) -> None:
        """Remove an indexed document everywhere (catalog, chunks, dense matrix, BM25, signature,
        text hashes, LSH); each document that duplicated it is planned again, never lost. Its
        recorded origins stay with its identity: it may live on as an alias, and prune forgets
        only what no origin provides any more."""
        s = self.state
        self.steps.delete(doc_id)
        s.known.pop(doc_id, None)
        s.near.remove(doc_id)
        self._drop_text_hashes(doc_id)
        self._replan_aliases_of(doc_id)

    def _replan_aliases_of(self, doc_id: str) -> None:
        """Plan the duplicates of ``doc_id`` again, as if they had just been ingested."""
        survivors = self.steps.alias_rows(doc_id)
        for alias in survivors:
            self._unalias(alias.alias_id)
        for alias in survivors:
            article = alias.article or self.reread(alias.alias_id, alias.path)
            if article is None:
                self.report.warn(
                    alias.path or alias.alias_id,
                    f"duplicate {alias.alias_id!r} of {doc_id!r} is lost: an older index kept only "
                    "its file, which is gone; ingest it again",
                )
                self._drop_sources(alias.alias_id)
                continue
            target = self._place(article)
            if alias.alias_id in self.read:
                continue  # read in this run: counted once, by that read
            if target is None:
                self.replanned[alias.alias_id] = "added"
            elif target != doc_id:
                self.replanned[alias.alias_id] = "duplicates"
            else:
                self.replanned.pop(alias.alias_id, None)

    def count_replanned(self) -> None:
        """Count the outcomes of re-planned aliases that no read of this run counted."""
        for outcome in self.replanned.values():
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        self.replanned.clear()

    def _drop_sources(self, doc_id: str) -> None:
        self.steps.drop_sources(doc_id)
        self.state.sources.pop(doc_id, None)
        self.state.paths.pop(doc_id, None)

    def prune(self, scope: PruneScope, whole: AbstractSet[str] = frozenset()) -> None:
        """Drop the recorded files this run's inputs cover that are gone, and the ids that a
        covered file read whole in this run (``whole``: every record in it used) no longer holds;
        forget the documents and aliases that nothing recorded provides any more (one that also
        came from stdin or the API never is). A story still provided elsewhere, last read from a
        file dropped here, is read again from a file that provides it. Relative paths recorded by
        an older index are reported, never pruned on a guess."""
        s = self.state
        touched: set[str] = set()
        moved: set[str] = set()  # still provided elsewhere, maybe: their text was the dropped file's
        for doc_id, paths in sorted(s.sources.items()):
            for path in sorted(paths):
                if is_relative_record(path):
                    self.report.warn(path, "recorded with a relative path; re-ingest it to fix (not pruned)")
                elif is_file_record(path) and scope.covers(path) and (
                    is_gone(path) or (path in whole and doc_id not in self.held.get(path, ()))
                ):
                    was_last = s.paths.get(doc_id) == path
                    self._remove_source(doc_id, path)
                    touched.add(doc_id)
                    if was_last:
                        moved.add(doc_id)
        gone = sorted(d for d in touched if not any(map(may_provide, s.sources.get(d, ()))))
        for doc_id in gone:
            self._drop_sources(doc_id)  # what is left names files gone outside this run's inputs
        for alias_id in [d for d in gone if d in s.aliases]:  # first, so they are not planned again
            self._unalias(alias_id)
            self.replanned.pop(alias_id, None)
            self.report.removed += 1
        for doc_id in [d for d in gone if d in s.known]:
            self.forget(doc_id)
            self.replanned.pop(doc_id, None)
            self.report.removed += 1
        for doc_id in sorted(moved - set(gone) - self.read):  # read in this run: that read is its text
            self._read_again(doc_id)

    def _read_again(self, doc_id: str) -> None:
        """``doc_id``'s last-read file no longer provides it: its text is now that of a file that
        does — the one it is recorded under, else the others in order of their names (the
        index never keeps a gone file's text)."""
        s = self.state
        now = s.paths.get(doc_id)
        if now is None or not is_file_record(now):
            return  # stdin or the API provided it last: its text as last read stays
        others = sorted(p for p in s.sources.get(doc_id, ()) if p != now and is_file_record(p))
        for path in [now, *others]:
            article = self.reread(doc_id, path)
            if article is not None:
                self.plan(article)
                return
        self.report.warn(now, f"{doc_id!r} was last read from a file pruned now, and no file recorded for it "
                         "carries it (any more): kept as last read")

    # ------------------------------------------------------------ older indexes
    def sign_unsigned(self, base: Catalog) -> None:
        """``base`` was written before near-duplicate detection: sign its documents now, and fold
        the near-duplicates among them into aliases of the first one."""
        s = self.state
        signed = {doc_id for doc_id, _ in base.signatures()}
        if len(signed) >= len(s.known):
            return
        for article in base.articles():
            if article.doc_id in signed:
                continue
            sig = signature(article.text)
            twin = s.near.find(article.doc_id, sig)
            if twin is None:
                s.near.add(article.doc_id, sig)
                self.steps.put_signature(article.doc_id, sig)
                continue
            self.forget(article.doc_id)
            self._alias(article, twin)
            self.report.duplicates += 1
