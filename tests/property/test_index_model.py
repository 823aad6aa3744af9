"""Model-based stateful test of the index (INDEX-SEMANTICS.md, issue 11 "Proof").

Hypothesis drives random sequences of file writes, edits, deletions, moves, exact and near
duplicate copies, JSONL feeds whose records share ids (within a feed, and with another feed or a
.md file), ingests from random working directories (folders, files and globs, relative and
absolute, with and without ``--prune``), Python-API ingests, ``qa index rm`` and ``qa index
rebuild`` against the real stack (on-disk Chroma, tantivy, memory-mapped dense parts) with a tiny
deterministic encoder. A plain-Python reference model says which ids must be live; after every
step the index must hold exactly those, each either indexed with its current text (of the last
record of its id read) or an alias of an indexed duplicate, the search stores must agree with the
catalog, every ingested file's text must be found by search, and an ingest repeated at once with
the same inputs writes nothing.

CI runs a fixed, bounded number of examples; ``QA_MODEL_EXAMPLES=500`` runs more (and
``QA_MODEL_STEPS`` sets the steps per example).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

EXAMPLES = int(os.environ.get("QA_MODEL_EXAMPLES", "40"))
STEPS = int(os.environ.get("QA_MODEL_STEPS", "25"))

# ---------------------------------------------------------------- articles

_RNG = random.Random(20251125)
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
VOCAB = sorted({"".join(_RNG.choice(_SYLLABLES) for _ in range(3)) for _ in range(6000)})


def story(seed: int, words: int = 240) -> str:
    """An article of pseudo-words (no real word, so no stop word, junk line or date): long
    enough that a two-word edit keeps its MinHash Jaccard far above 0.8."""
    rng = random.Random(seed)
    paragraphs, n = [], 0
    while n < words:
        sentences = []
        for _ in range(4):
            ws = [rng.choice(VOCAB) for _ in range(rng.randint(8, 14))]
            sentences.append(" ".join(ws).capitalize() + ".")
            n += len(ws)
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs) + "\n"


def near_copy(text: str, seed: int) -> str:
    """``text`` with two words replaced: a near-duplicate (Jaccard of 5-shingles ~0.95)."""
    rng = random.Random(seed)
    tokens = text.split(" ")
    spots = [i for i, t in enumerate(tokens) if t.isalpha() and t.islower()]
    for i in rng.sample(spots, 2):
        tokens[i] = rng.choice(VOCAB)
    return " ".join(tokens)


def normalized(text: str) -> str:
    return " ".join(text.split())


def shingles(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def duplicates(a: str, b: str) -> bool:
    """Exact or near duplicates, leniently: generated texts are either ~0.9+ or ~0 apart, and
    MinHash (64 permutations) never puts a true 0.5 at its 0.8 threshold."""
    return normalized(a).lower() == normalized(b).lower() or jaccard(a, b) >= 0.5


def phrase(text: str) -> str:
    """Eight consecutive words from the middle of a text: distinctive among generated articles."""
    words = re.findall(r"\w+", text)
    mid = len(words) // 2
    return " ".join(words[mid : mid + 8])


# ---------------------------------------------------------------- the file system

POOL = ["a.txt", "b.txt", "c.md", "sub/d.txt", "sub/e.md"]  # few names: steps often meet
FEEDS = ["feed.jsonl", "sub/wire.jsonl"]  # records with ids of their own, often the same id twice
API_IDS = ["api-1", "api-2", "api-3"]
WIRE_IDS = ["wire-1", "wire-2"]  # a feed record's id: one of these, or a .md file's
CWDS = ["corpus", "parent", "elsewhere"]
# inputs: a folder, a subfolder, a missing folder, files, globs (one of a missing folder)
TARGETS = [
    *["dir:."] * 3,
    "dir:sub",
    "dir:nosuch",
    *[f"file:{p}" for p in POOL],
    "glob:*.txt",
    "glob:**/*.md",
    "glob:sub/*",
    "glob:nosuch/*.txt",
    "file:feed.jsonl",
    "glob:**/*.jsonl",
]


@dataclass
class File:
    body: str
    doc_id: str | None  # front-matter id (.md files), None: the id is the file's path
    records: tuple[tuple[str, str], ...] = ()  # a .jsonl feed's records: (id, text), in file order


@dataclass(frozen=True)
class Record:
    """One record a file gives: its id, its text and the title it carries."""

    doc_id: str
    body: str
    title: str


@dataclass(frozen=True)
class Live:
    """What the index must hold for one id: its text as last ingested, and every origin that
    provided it (absolute resolved file paths, "<api>"), in the order each was first recorded,
    and where it is recorded now (the origin last read; after a prune, the latest recorded left)."""

    text: str
    paths: frozenset[str]
    order: tuple[str, ...] = ()
    last: str = ""
    title: str = ""
    filled: bool = False  # holds the date and source a run's --published-at/--source filled (FILLS)

    def read_from(self, text: str, path: str, title: str = "", filled: bool = False) -> Live:
        """Read again: where it is recorded moves to ``path`` unless it is unchanged (text, title
        and fills) and the origin recorded still provides it (an unchanged re-ingest writes
        nothing). A read without the fills keeps those the index holds."""
        filled = filled or self.filled
        same = (text, title, filled) == (self.text, self.title, self.filled)
        stays = path in self.paths and (self.last == path or (same and still_provides(self.last)))
        return Live(text, self.paths | {path}, self.order if path in self.order else (*self.order, path),
                    self.last if stays else path, title, filled)

    def also_in(self, path: str) -> Live:
        """A record of this id that a later one read in the same run replaced: its file is
        recorded as providing the story; the text and where it is recorded stay."""
        return Live(self.text, self.paths | {path}, self.order if path in self.order else (*self.order, path),
                    self.last, self.title, self.filled)


API = "<api>"
FILLS = {"published_at": date(2025, 3, 1), "source": "Model Desk"}  # what an ingest's flags fill (records carry neither)


def still_provides(path: str) -> bool:
    """An origin that can still provide its story: the API always, a file while it exists."""
    return path == API or Path(path).exists()


@dataclass(frozen=True)
class Scope:
    """One ingest input as the model sees it: which files it reads, which recorded paths it
    may prune (INDEX-SEMANTICS.md "Prune scope")."""

    kind: str  # dir | file | glob
    base: Path  # absolute
    recursive: bool = False
    suffix: str = ""

    def matches(self, path: Path) -> bool:
        if not self.base.exists():
            return False
        if self.kind == "dir":
            return path.is_relative_to(self.base)
        if self.kind == "file":
            return path == self.base
        if self.recursive:
            return path.is_relative_to(self.base) and path.name.endswith(self.suffix)
        return path.parent == self.base and path.name.endswith(self.suffix)


def scope_of(target: str, corpus: Path) -> tuple[Scope, str]:
    """(the model's view of an input, its path relative to the corpus as given to qa)."""
    kind, rest = target.split(":", 1)
    if kind == "dir":
        return Scope("dir", corpus / rest if rest != "." else corpus), rest
    if kind == "file":
        return Scope("file", corpus / rest), rest
    folder, _, name = rest.rpartition("/")
    recursive = folder.endswith("**")
    folder = folder.removesuffix("**").rstrip("/")
    return Scope("glob", corpus / folder if folder else corpus, recursive, name.lstrip("*")), rest


# ---------------------------------------------------------------- the machine

Rows = dict[str, tuple[str, str]]  # catalog rows: id → (text or twin id, recorded path)


class IndexMachine(RuleBasedStateMachine):
    encoder: Path  # set by the test function

    def __init__(self) -> None:
        super().__init__()
        from qa.assistant import Assistant
        from qa.settings import Settings

        self.tmp = Path(tempfile.mkdtemp(prefix="qa-model-")).resolve()
        self.parent = self.tmp / "parent"
        self.corpus = self.parent / "corpus"
        (self.corpus / "sub").mkdir(parents=True)
        self.elsewhere = self.tmp / "elsewhere"
        self.elsewhere.mkdir()
        self.old_cwd = os.getcwd()
        # the tiny encoder's vectors carry no meaning: rank by BM25 alone (dense_weight=0), so a
        # phrase finds its chunk first; the dense matrix is still written and checked
        self.settings = Settings(
            index=self.tmp / "index", model=str(self.encoder), keep_generations=1, dense_weight=0.0,
            write_batch_chunks=3,  # several batches per ingest (a delete of a buffered article flushes first)
        )
        self.assistant = Assistant(self.settings)
        self.files: dict[str, File] = {}  # corpus-relative path → content
        self.md_ids: dict[str, str] = {}  # .md path → the id it holds (or last held)
        self.live: dict[str, Live] = {}  # the reference model: id → what the index must hold
        self.next_id = 0
        self.last_prune = False  # whether the last step was a pruning ingest

    def teardown(self) -> None:
        os.chdir(self.old_cwd)
        self.assistant.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    def file_id(self, rel: str) -> str:
        f = self.files.get(rel)
        if f is not None and f.doc_id is not None:
            return f.doc_id
        if rel.endswith(".md"):
            return self.md_ids.get(rel, f"never-{rel}")
        return str((self.corpus / rel).resolve())

    def records(self, rel: str) -> list[Record]:
        """What a file gives, in file order: a feed's records, else its one story."""
        f = self.files[rel]
        if rel.endswith(".jsonl"):
            return [Record(doc_id, body, f"Wire {doc_id}") for doc_id, body in f.records]
        return [Record(self.file_id(rel), f.body, self.title_of(rel))]

    def record_in(self, rel: str, doc_id: str) -> Record | None:
        """The last record of ``doc_id`` in a file (the one a read of that file keeps), if any."""
        found = [r for r in self.records(rel) if r.doc_id == doc_id] if rel in self.files else []
        return found[-1] if found else None

    def title_of(self, rel: str) -> str:
        """The title a file gives its story, as far as it decides "unchanged" (a .md file's front matter)."""
        f = self.files[rel]
        return f"Story {f.doc_id}" if f.doc_id is not None else ""

    def write(self, rel: str, body: str) -> None:
        """Create or overwrite a file; an existing file keeps its id, a new .md gets a fresh one."""
        old = self.files.get(rel)
        doc_id = None
        if rel.endswith(".md"):
            if old is not None and old.doc_id:
                doc_id = old.doc_id
            else:
                self.next_id += 1
                doc_id = f"story-{self.next_id}"
            self.md_ids[rel] = doc_id
        self.files[rel] = File(body, doc_id)
        self.materialize(rel)

    def materialize(self, rel: str) -> None:
        f = self.files[rel]
        content = f.body
        if rel.endswith(".jsonl"):
            content = "".join(json.dumps({"id": r.doc_id, "title": r.title, "text": r.body}) + "\n" for r in self.records(rel))
        elif f.doc_id is not None:
            content = f"---\nid: {f.doc_id}\ntitle: Story {f.doc_id}\n---\n\n{f.body}"
        path = self.corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    def sources(self) -> dict[str, set[str]]:
        """The live generation's recorded origins: id → paths."""
        from qa.index.catalog import Catalog
        from qa.index.generations import Generations

        gen = Generations(self.settings.resolved_index()).current()
        if gen is None:
            return {}
        cat = Catalog(gen)
        try:
            return cat.sources()
        finally:
            cat.close()

    def catalog(self) -> tuple[Rows, Rows]:
        """The live generation's documents (id → (text, path)), aliases (id → (twin, path))."""
        from qa.index.catalog import Catalog
        from qa.index.generations import Generations

        gen = Generations(self.settings.resolved_index()).current()
        if gen is None:
            return {}, {}
        cat = Catalog(gen)
        try:
            rows = cat.db.execute("SELECT doc_id, text, path FROM documents")
            docs = {r[0]: (r[1], r[2]) for r in rows}
            rows = cat.db.execute("SELECT alias_id, doc_id, path FROM aliases")
            aliases = {r[0]: (r[1], r[2]) for r in rows}
        finally:
            cat.close()
        return docs, aliases

    # ------------------------------------------------------------ file rules
    @initialize(seed=st.integers(0, 10_000))
    def three_articles(self, seed: int) -> None:
        """Start from a few different stories, so early steps have something to copy and edit."""
        for i, rel in enumerate(POOL[:3]):
            self.write(rel, story(seed + i))

    @initialize(seed=st.integers(0, 12))
    def a_feed_with_an_id_twice(self, seed: int) -> None:
        """And a feed holding one id twice with different texts, so that ingests often meet one."""
        self.files["feed.jsonl"] = File("", None, tuple((doc_id, story(20_000 + seed + i))
                                                        for i, doc_id in enumerate(["wire-1", "wire-2", "wire-1"])))
        self.materialize("feed.jsonl")

    @rule(rel=st.sampled_from(POOL), seed=st.integers(0, 10_000))
    def write_story(self, rel: str, seed: int) -> None:
        """A new article, or an existing file rewritten with a new story."""
        self.write(rel, story(seed))

    @rule(rel=st.sampled_from(POOL), seed=st.integers(0, 10_000))
    def small_edit(self, rel: str, seed: int) -> None:
        if rel in self.files:
            self.write(rel, near_copy(self.files[rel].body, seed))

    @rule(
        src=st.sampled_from(POOL),
        dst=st.sampled_from(POOL),
        near=st.booleans(),
        seed=st.integers(0, 100),
    )
    def copy_text(self, src: str, dst: str, near: bool, seed: int) -> None:
        """dst (new, or existing: edited) gets src's text, exactly or with a small edit."""
        if src in self.files and src != dst:
            body = self.files[src].body
            self.write(dst, near_copy(body, seed) if near else body)

    @rule(rel=st.sampled_from(POOL + FEEDS))
    def delete(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None:
            (self.corpus / rel).unlink()

    @rule(src=st.sampled_from([p for p in POOL if p.endswith(".md")]),
          dst=st.sampled_from([p for p in POOL if p.endswith(".md")]))
    def copy_file(self, src: str, dst: str) -> None:
        """A whole .md copied to a new name: one story (one front-matter id) in two files."""
        if src in self.files and dst not in self.files:
            self.files[dst] = File(self.files[src].body, self.files[src].doc_id)
            self.md_ids[dst] = self.files[dst].doc_id  # type: ignore[assignment]
            self.materialize(dst)

    @rule(rel=st.sampled_from(FEEDS),
          picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 12)), min_size=1, max_size=4))
    def write_feed(self, rel: str, picks: list[tuple[int, int]]) -> None:
        """A feed (new or rewritten) of a few records; their ids come from a small set and the .md
        files' ids, and their texts from a few stories: one id often appears twice, in one feed or
        in two files, with the same text or another (and one text under two ids)."""
        ids = [*WIRE_IDS, *sorted({f.doc_id for f in self.files.values() if f.doc_id})]
        self.files[rel] = File("", None, tuple((ids[i % len(ids)], story(20_000 + seed)) for i, seed in picks))
        self.materialize(rel)

    @rule(rel=st.sampled_from(FEEDS), which=st.integers(0, 3), seed=st.integers(0, 100))
    def edit_feed_record(self, rel: str, which: int, seed: int) -> None:
        """One record of a feed edited in place (a small edit: a near-duplicate of what it was)."""
        f = self.files.get(rel)
        if f is not None and f.records:
            records = list(f.records)
            doc_id, body = records[which % len(records)]
            records[which % len(records)] = (doc_id, near_copy(body, seed))
            self.files[rel] = File("", None, tuple(records))
            self.materialize(rel)

    @rule(src=st.sampled_from(POOL + FEEDS), dst=st.sampled_from(POOL + FEEDS))
    def move(self, src: str, dst: str) -> None:
        """A rename (same format, onto a free name): a .md keeps its id, a .txt gets a new one."""
        if src in self.files and dst not in self.files and Path(src).suffix == Path(dst).suffix:
            (self.corpus / dst).parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.corpus / src, self.corpus / dst)
            self.files[dst] = self.files.pop(src)
            if dst.endswith(".md"):
                self.md_ids[dst] = self.files[dst].doc_id  # type: ignore[assignment]

    # ------------------------------------------------------------ index rules
    @rule(
        cwd=st.sampled_from(CWDS),
        specs=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=2, unique=True),
        absolute=st.booleans(),
        prune=st.booleans(),
        fill=st.booleans(),
    )
    def ingest_files(self, cwd: str, specs: list[str], absolute: bool, prune: bool, fill: bool = False) -> None:
        """``fill``: with --published-at and --source (FILLS); the same ingest is then repeated
        without them, as a cron job's plain ingest of the folder, and must write nothing too."""
        from qa.index.generations import Generations
        from qa.ingest.loaders import expand_inputs
        from qa.ingest import ingest

        where = {"corpus": self.corpus, "parent": self.parent, "elsewhere": self.elsewhere}[cwd]
        os.chdir(where)
        scopes, inputs = [], []
        for target in specs:
            scope, rel = scope_of(target, self.corpus)
            scopes.append(scope)
            base = self.corpus if absolute else Path(os.path.relpath(self.corpus, where))
            given = base / rel
            inputs.append(str(given))
        # qa's own enumeration of the inputs gives the reading order (a file named twice is read
        # once): when one id is read twice, in one file or two, the record read last decides its text
        read = list(dict.fromkeys(str(Path(p).resolve().relative_to(self.corpus)) for p in expand_inputs(inputs)
                                  if Path(p).is_file()))
        ingest(inputs, self.settings, prune=prune, **(FILLS if fill else {}))  # type: ignore[arg-type]
        self.last_prune = prune
        generations = Generations(self.settings.resolved_index())
        published = generations.current()
        again = ingest(inputs, self.settings, prune=prune)
        wrote = (again.added, again.updated, again.duplicates, again.removed)
        assert generations.current() == published and wrote == (0, 0, 0, 0), f"the same ingest again wrote: {again}"
        records = [(rel, r) for rel in read for r in self.records(rel)]
        last = {r.doc_id: i for i, (_, r) in enumerate(records)}
        for i, (rel, r) in enumerate(records):
            before, where_from = self.live.get(r.doc_id, Live("", frozenset())), str(self.corpus / rel)
            if last[r.doc_id] == i:
                self.live[r.doc_id] = before.read_from(r.body, where_from, r.title, fill)
            else:
                self.live[r.doc_id] = before.also_in(where_from)
        if prune:  # drop the gone files in scope, and the ids a file read now no longer holds; forget what nothing left provides
            held = {str(self.corpus / rel): {r.doc_id for r in self.records(rel)} for rel in read}
            read_ids = set().union(*held.values())
            for doc_id, entry in list(self.live.items()):
                gone = {p for p in entry.paths if p != API and any(s.matches(Path(p)) for s in scopes)
                        and (not Path(p).exists() or doc_id not in held.get(p, {doc_id}))}
                if not gone:
                    continue
                left = entry.paths - gone
                if not any(still_provides(p) for p in left):
                    del self.live[doc_id]
                    continue
                order, now, moved = list(entry.order), entry.last, False
                for p in sorted(gone):  # as the catalog records it: each removal leaves the latest recorded
                    moved |= now == p
                    order.remove(p)
                    now = order[-1]
                kept = Live(entry.text, left, tuple(order), now, entry.title, entry.filled)
                self.live[doc_id] = kept
                if moved and doc_id not in read_ids and now != API:  # its text was a dropped file's: read again,
                    for p in [now, *sorted(q for q in left if q not in (now, API))]:  # from a file that has it
                        rel = str(Path(p).relative_to(self.corpus)) if Path(p).is_relative_to(self.corpus) else ""
                        found = self.record_in(rel, doc_id)
                        if found is not None:
                            self.live[doc_id] = kept.read_from(found.body, p, found.title)
                            break

    @rule(
        ids=st.lists(st.sampled_from(API_IDS), min_size=1, max_size=2, unique=True),
        source=st.sampled_from([None, *POOL]),
        near=st.booleans(),
        seed=st.integers(0, 10_000),
    )
    def ingest_api(self, ids: list[str], source: str | None, near: bool, seed: int) -> None:
        """Records through ``Assistant.ingest``: a new story, or (a near) copy of a file's text."""
        records = []
        for i, doc_id in enumerate(ids):
            text = story(seed + i)
            if source in self.files and i == 0:
                text = self.files[source].body
                text = near_copy(text, seed) if near else text
            records.append({"id": doc_id, "title": f"API {doc_id}", "text": text})
        self.assistant.ingest(records)
        for r in records:
            self.live[r["id"]] = self.live.get(r["id"], Live("", frozenset())).read_from(r["text"], API, r["title"])

    @precondition(lambda self: self.live)
    @rule(name=st.sampled_from(POOL + API_IDS + WIRE_IDS + ["no-such-id"]))
    def index_rm(self, name: str) -> None:
        """``qa index rm ID``: the story and its recorded duplicates (an alias: just itself)."""
        from qa.index.writer import remove_documents

        doc_id = name if name not in POOL else self.file_id(name)
        docs, aliases = self.catalog()
        remove_documents(self.settings, [doc_id])
        if doc_id in docs:
            for gone in [doc_id, *(a for a, (twin, _) in aliases.items() if twin == doc_id)]:
                self.live.pop(gone, None)
        elif doc_id in aliases:
            self.live.pop(doc_id, None)

    @precondition(lambda self: self.live)
    @rule()
    def index_rebuild(self) -> None:
        from qa.ingest import rebuild

        rebuild(self.settings)

    # ------------------------------------------------------------ invariants
    @invariant()
    def index_matches_model(self) -> None:
        """Every check after every step (one catalog read; each rule fails on its own line, so
        hypothesis reports and shrinks each kind of failure separately)."""
        docs, aliases = self.catalog()
        self.check_ids(docs, aliases)
        self.check_texts(docs, aliases)
        self.check_paths(docs, aliases)
        self.check_fills()
        if docs:
            self.check_search_stores(docs)
            self.check_files_found(docs, aliases)
        self.last_prune = False

    def check_ids(self, docs: Rows, aliases: Rows) -> None:
        """Nothing lost, nothing extra, nothing both indexed and an alias."""
        assert not set(docs) & set(aliases), f"both indexed and alias: {set(docs) & set(aliases)}"
        lost = sorted(set(self.live) - set(docs) - set(aliases))
        if self.last_prune:
            api = [i for i in lost if API in self.live[i].paths]
            assert not api, f"prune forgot API documents: {api}"
            assert not lost, f"prune forgot documents whose files were not pruned: {lost}"
        assert not lost, f"live ids missing from the index: {lost}"
        extra = sorted((set(docs) | set(aliases)) - set(self.live))
        assert not extra, f"ids in the index that should be gone: {extra}"

    def check_texts(self, docs: Rows, aliases: Rows) -> None:
        """Indexed documents hold their current text, each text once; aliases point at an
        indexed duplicate of their own text."""
        for doc_id, (text, _) in docs.items():
            if doc_id in self.live:
                want = normalized(self.live[doc_id].text)
                assert normalized(text) == want, f"{doc_id}: stale text indexed"
        bodies = [normalized(text).lower() for text, _ in docs.values()]
        assert len(bodies) == len(set(bodies)), "the same text is indexed under two ids"
        for alias, (twin, _) in aliases.items():
            assert twin in docs, f"alias {alias} points at {twin}, which is not indexed"
            if alias in self.live:
                assert duplicates(self.live[alias].text, docs[twin][0]), (
                    f"alias {alias} is not a duplicate of {twin}: its text is indexed nowhere"
                )

    def check_paths(self, docs: Rows, aliases: Rows) -> None:
        """Every origin of a story is recorded — files by absolute resolved path, API records as
        <api> — and the path column names one of them."""
        recorded = self.sources()
        for doc_id, (_, path) in [*docs.items(), *aliases.items()]:
            if doc_id in self.live:
                want = set(self.live[doc_id].paths)
                assert recorded.get(doc_id, set()) == want, f"{doc_id} recorded from {recorded.get(doc_id)}, not {want}"
                assert path in want, f"{doc_id}: path column {path!r} is none of its origins {want}"

    def check_fills(self) -> None:
        """A story holds the date and source a run filled until it is forgotten, however it is
        read again (never undated by a read without the flags), and no other story holds them."""
        from qa.index.catalog import Catalog
        from qa.index.generations import Generations

        gen = Generations(self.settings.resolved_index()).current()
        if gen is None:
            return
        cat = Catalog(gen)
        try:
            rows = list(cat.db.execute("SELECT doc_id, published_at, source FROM documents "
                                       "UNION ALL SELECT alias_id, published_at, source FROM aliases"))
        finally:
            cat.close()
        want = (FILLS["published_at"].isoformat(), FILLS["source"])  # type: ignore[union-attr]
        for doc_id, day, source in rows:
            if doc_id in self.live:
                assert ((day, source) == want) == self.live[doc_id].filled, f"{doc_id}: holds {(day, source)}"

    def check_search_stores(self, docs: Rows) -> None:
        """Chroma, the dense matrix and BM25 hold exactly the chunks of the indexed documents."""
        import tantivy

        reader = self.assistant.reader
        stored = reader.vectors.live()  # on a shared Chroma server: the rows this version shows
        chroma = {cid: record.doc_id for cid, (_, record) in stored.items()}
        assert reader.vectors.count() == len(stored), "Chroma's count differs from its rows"
        assert set(chroma.values()) == set(docs), "Chroma's documents differ from the catalog's"
        counts = dict(reader.catalog.db.execute("SELECT doc_id, n_chunks FROM documents"))
        for doc_id, n in counts.items():
            held = sum(1 for d in chroma.values() if d == doc_id)
            assert held == n, f"{doc_id}: Chroma holds {held} chunks, the catalog says {n}"
        dense = {c for c, alive in zip(reader.dense.ids, reader.dense.alive) if alive}
        assert dense == set(chroma), "the dense matrix's chunks differ from Chroma's"
        assert reader.dense.texts(list(chroma)) == (stored, []), "the texts and records searches read differ from Chroma's"
        searcher = reader.lexical.searcher
        hits = searcher.search(tantivy.Query.all_query(), limit=10_000).hits
        lexical = [searcher.doc(addr)["chunk_id"][0] for _, addr in hits]
        assert sorted(lexical) == sorted(chroma), "BM25's chunks differ from Chroma's"

    def check_files_found(self, docs: Rows, aliases: Rows) -> None:
        """A distinctive phrase of each file whose current text was ingested finds its document,
        or the document it is an alias of."""
        for rel in sorted(self.files):
            for r in self.records(rel):
                entry = self.live.get(r.doc_id)
                if entry is None or entry.text != r.body or str(self.corpus / rel) not in entry.paths:
                    continue  # not ingested since it last changed (or another record of its id was kept)
                target = r.doc_id if r.doc_id in docs else aliases.get(r.doc_id, (None, ""))[0]
                if target is None:
                    continue  # lost: check_ids says so
                found = [p.doc_id for p in self.assistant.search(phrase(r.body), k=3)]
                assert target in found, f"{rel}: search for {r.doc_id}'s text found {found}, not {target}"


class SharedIndexMachine(IndexMachine):
    """The same steps on an index shared through a Chroma server, with two replicas: one catches
    up after every step (incrementally), one every third step (often from too far behind, so it
    rebuilds). After each step both hold exactly the writer's documents, texts and chunks."""

    chroma_url: str  # set by the test function

    def __init__(self) -> None:
        super().__init__()
        self.settings = self.settings.model_copy(update={"chroma_url": self.chroma_url, "keep_generations": 2})
        self.assistant.close()
        from qa.assistant import Assistant

        self.assistant = Assistant(self.settings)
        self.steps = 0

    @invariant()
    def replicas_match_the_writer(self) -> None:
        from qa.index.generations import Generations
        from qa.index.replica import follow

        self.steps += 1
        if Generations(self.settings.resolved_index()).current() is None:
            return
        index_id = (self.settings.resolved_index() / "INDEX_ID").read_text().strip()
        want = self.replica_view(self.settings.resolved_index())
        for name, every in (("steady", 1), ("lagging", 3)):
            if self.steps % every:
                continue
            replica = self.settings.model_copy(update={"index": self.tmp / name})
            follow(replica, index_id)
            assert self.replica_view(replica.resolved_index()) == want, f"{name} replica differs from the writer"

    @staticmethod
    def replica_view(root: Path) -> tuple:
        """(doc id → text, live dense chunk ids, BM25 chunk ids) of an index folder's published generation."""
        import tantivy

        from qa.index.catalog import Catalog
        from qa.index.dense import DenseIndex
        from qa.index.generations import Generations
        from qa.index.lexical import LexicalIndex

        gen = Generations(root).current()
        assert gen is not None
        cat = Catalog(gen)
        try:
            docs = {a.doc_id: a.text for a in cat.articles()}
        finally:
            cat.close()
        dense = DenseIndex(gen)
        searcher = LexicalIndex(gen).searcher
        hits = searcher.search(tantivy.Query.all_query(), limit=10_000).hits
        lexical = sorted(searcher.doc(addr)["chunk_id"][0] for _, addr in hits)
        return docs, sorted(c for c, alive in zip(dense.ids, dense.alive) if alive), lexical


def run_machine(encoder: Path, examples: int, steps: int, machine: type[IndexMachine] = IndexMachine) -> None:
    IndexMachine.encoder = encoder
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=True,
        ),
    )


@pytest.mark.slow
def test_index_follows_the_reference_model(tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.index import chroma_parts

    monkeypatch.setattr(chroma_parts, "FANOUT", 2)  # Chroma's parts are merged every few writes
    run_machine(tiny_encoder, EXAMPLES, STEPS)


@pytest.mark.slow
def test_a_shared_index_and_its_replicas_follow_the_reference_model(tiny_encoder: Path, chroma_server: str) -> None:
    SharedIndexMachine.chroma_url = chroma_server
    run_machine(tiny_encoder, max(4, EXAMPLES // 5), STEPS, SharedIndexMachine)


def test_one_story_in_two_files_survives_pruning_one(tiny_encoder: Path) -> None:
    """A sequence the random search reaches only rarely, kept as a fixed example: one front-matter
    id in two files, one deleted, a pruning ingest of the folder."""
    IndexMachine.encoder = tiny_encoder
    machine = IndexMachine()
    try:
        machine.three_articles(seed=1)
        machine.copy_file(src="c.md", dst="sub/e.md")
        machine.ingest_files(cwd="parent", specs=["dir:."], absolute=False, prune=False)
        machine.index_matches_model()
        machine.delete(rel="c.md")
        machine.ingest_files(cwd="elsewhere", specs=["glob:**/*.md"], absolute=True, prune=True)
        machine.index_matches_model()
        machine.delete(rel="sub/e.md")
        machine.ingest_files(cwd="corpus", specs=["dir:sub"], absolute=False, prune=True)
        machine.index_matches_model()
    finally:
        machine.teardown()


def test_one_id_twice_in_a_feed_and_in_another_file_keeps_the_last_and_a_reingest_writes_nothing(tiny_encoder: Path) -> None:
    """A fixed example of duplicate ids: a feed holds one id twice with different texts, a
    second feed holds that id again and a .md file's id; every ingest is repeated at once and must
    write nothing (both records of the id were embedded and a new generation published each run);
    then a loser edited, the winning file pruned, the last feed pruned."""
    IndexMachine.encoder = tiny_encoder
    machine = IndexMachine()
    try:
        machine.three_articles(seed=1)  # a.txt, b.txt, c.md (id story-1)
        machine.write_feed(rel="feed.jsonl", picks=[(0, 1), (1, 2), (0, 3)])  # wire-1 twice, wire-2
        machine.write_feed(rel="sub/wire.jsonl", picks=[(2, 4), (0, 5)])  # story-1, wire-1 (read last)
        machine.ingest_files(cwd="corpus", specs=["dir:."], absolute=False, prune=False)
        machine.index_matches_model()
        machine.edit_feed_record(rel="feed.jsonl", which=0, seed=7)  # a record that loses: nothing to write
        machine.ingest_files(cwd="parent", specs=["file:feed.jsonl", "dir:sub"], absolute=True, prune=True)
        machine.index_matches_model()
        machine.delete(rel="sub/wire.jsonl")
        machine.ingest_files(cwd="elsewhere", specs=["dir:."], absolute=True, prune=True)
        machine.index_matches_model()
        machine.delete(rel="feed.jsonl")
        machine.ingest_files(cwd="corpus", specs=["glob:**/*.jsonl"], absolute=False, prune=True)
        machine.index_matches_model()
    finally:
        machine.teardown()
