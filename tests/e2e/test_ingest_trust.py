"""Issue #11, data loss: prune scope and paths, the one "forget", alias content, `index rm` on a
missing index, and `--published-at` filling (never overriding) dates. Through the real `qa`
command (subprocesses) and the Python API, on real on-disk indexes."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from conftest import run_json, run_qa

TRAM = (
    "The city council approved a new tram line along Quay Street on Monday. The line will cost 120 "
    "million crowns and open in 2027, the mayor said. Construction of the depot starts in the spring."
)
CUP = (
    "The national cup final ended with a late goal from the visiting striker. Fans filled the "
    "stadium despite heavy rain. The coach praised the defence after the match on Sunday."
)
STORM = (
    "A storm closed the harbour bridge overnight and flooded several streets near the river. The "
    "port authority said ferries would resume on Wednesday. No injuries were reported by the police."
)
RATES = (
    "The central bank raised its interest rate by a quarter point to curb inflation. Economists had "
    "expected the move. Shares of exporters fell after the announcement in the capital."
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _catalog(index: Path) -> sqlite3.Connection:
    """The live generation's catalog (read to check what the index holds)."""
    gen = index / (index / "CURRENT").read_text().strip()
    return sqlite3.connect(gen / "catalog.sqlite")


def _documents(index: Path) -> dict[str, tuple[str, str]]:
    """doc_id → (recorded path, text) of the indexed documents."""
    with _catalog(index) as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT doc_id, path, text FROM documents")}


def _aliases(index: Path) -> dict[str, str]:
    with _catalog(index) as db:
        return {r[0]: r[1] for r in db.execute("SELECT alias_id, doc_id FROM aliases")}


# ---------------------------------------------------------------- finding 1: paths and cwd


def test_prune_from_another_directory_keeps_files_ingested_with_relative_paths(tmp_path):
    work, elsewhere, ix = tmp_path / "work", tmp_path / "elsewhere", tmp_path / "ix"
    one = _write(work / "articles" / "one.txt", TRAM)
    _write(work / "articles" / "two.txt", CUP)
    _write(work / "other" / "three.txt", STORM)
    elsewhere.mkdir()
    first = run_json("ingest", "articles", "other", index=ix, cwd=work)
    assert first["added"] == 3
    assert {p for p, _ in _documents(ix).values()} == {
        str((work / d / f).resolve()) for d, f in [("articles", "one.txt"), ("articles", "two.txt"), ("other", "three.txt")]
    }
    pruned = run_json("ingest", str(work / "articles"), "--prune", index=ix, cwd=elsewhere)
    assert (pruned["removed"], pruned["unchanged"], pruned["documents"]) == (0, 2, 3)

    # an index written by an older qa recorded the path as given: never pruned on a guess
    with _catalog(ix) as db:
        db.execute("UPDATE documents SET path='articles/one.txt' WHERE path=?", (str(one.resolve()),))
        db.execute("DROP TABLE IF EXISTS sources")  # an older qa recorded no other origins
        db.execute("DELETE FROM meta WHERE key LIKE 'migration:%'")  # nor migrations
    warned = run_json("ingest", str(work / "other"), "--prune", index=ix, cwd=elsewhere)
    assert warned["removed"] == 0 and warned["documents"] == 3
    assert [w["path"] for w in warned["warnings"]] == ["articles/one.txt"]
    assert "relative path" in warned["warnings"][0]["warning"]
    # the next ingest of the file records its absolute path, although its content is unchanged
    fixed = run_json("ingest", "articles/one.txt", index=ix, cwd=work)
    assert fixed["unchanged"] == 1
    assert str(one.resolve()) in {p for p, _ in _documents(ix).values()}
    assert run_json("ingest", str(work / "other"), "--prune", index=ix, cwd=elsewhere)["warnings"] == []


# ---------------------------------------------------------------- finding 2: prune scope


def test_prune_touches_only_what_this_run_names(tmp_path):
    from qa import Assistant

    ix = tmp_path / "ix"
    _write(tmp_path / "src" / "a" / "one.txt", TRAM)
    two = _write(tmp_path / "src" / "b" / "two.txt", CUP)
    run_json("ingest", str(tmp_path / "src" / "a"), str(tmp_path / "src" / "b"), index=ix)
    bot = Assistant.open(ix)
    assert bot.ingest([{"id": "api-1", "text": STORM}]).added == 1
    bot.close()
    two.unlink()

    other_folder = run_json("ingest", str(tmp_path / "src" / "a"), "--prune", index=ix)
    assert (other_folder["removed"], other_folder["documents"]) == (0, 3)
    typo = run_qa("ingest", str(tmp_path / "src" / "bb"), "--prune", "--json", index=ix)
    assert typo.returncode == 1 and "no such file or directory" in typo.stderr
    assert json.loads(typo.stdout)["removed"] == 0
    glob = run_json("ingest", str(tmp_path / "src" / "b" / "*.txt"), "--prune", index=ix, ok=(0, 1))
    assert (glob["removed"], glob["documents"]) == (1, 2)
    assert "api-1" in _documents(ix)


# ---------------------------------------------------------------- finding 3: the one forget


@pytest.mark.parametrize("new_text", [CUP, RATES], ids=["now-duplicates-another", "now-new-text"])
def test_editing_a_story_with_an_exact_duplicate_keeps_the_duplicate_indexed(tmp_path, new_text):
    ix, src = tmp_path / "ix", tmp_path / "src"
    x = _write(src / "x.txt", TRAM)
    _write(src / "y.txt", CUP)
    z = _write(src / "z.txt", TRAM)  # an exact duplicate of x: kept as an alias
    first = run_json("ingest", str(src), index=ix)
    assert (first["added"], first["duplicates"]) == (2, 1)
    x.write_text(new_text)
    run_json("ingest", str(src), index=ix)
    docs = _documents(ix)
    assert TRAM in {text.strip() for _, text in docs.values()}, "z's text is indexed nowhere"
    assert str(z.resolve()) in docs
    hits = run_json("search", "tram line along Quay Street", "--k", "1", index=ix)["results"]
    assert hits[0]["doc_id"] == str(z.resolve())
    again = run_json("ingest", str(src), index=ix)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 3)


def test_a_stdin_duplicate_survives_the_pruning_of_its_indexed_copy(tmp_path):
    ix = tmp_path / "ix"
    a = _write(tmp_path / "src" / "a.txt", STORM)
    run_json("ingest", str(tmp_path / "src"), index=ix)
    piped = run_json("ingest", "-", index=ix, stdin=json.dumps({"id": "wire-storm", "title": "Storm", "text": STORM}) + "\n")
    assert piped["duplicates"] == 1 and _aliases(ix) == {"wire-storm": str(a.resolve())}
    a.unlink()
    pruned = run_json("ingest", str(tmp_path / "src"), "--prune", index=ix)
    assert pruned["removed"] == 1
    docs = _documents(ix)
    assert list(docs) == ["wire-storm"] and docs["wire-storm"] == ("-", STORM)
    assert _aliases(ix) == {}


# ---------------------------------------------------------------- finding 6: no index


@pytest.mark.parametrize("command", [["index", "rm", "some-id"], ["index", "rebuild"], ["index", "stats"]])
def test_index_commands_on_a_folder_without_an_index_fail_and_create_nothing(tmp_path, command):
    ix = tmp_path / "no-index-here"
    res = run_qa(*command, index=ix)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("qa: error: no index at") and res.stderr.count("\n") == 1
    assert not ix.exists()


@pytest.mark.parametrize("under", ["", "index", "a/index"])
def test_an_index_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path, under):
    """`--index` at a regular file, inside one, or below a path whose parent is one printed
    'REPLICA: not a replica marker' or a NotADirectoryError traceback."""
    blocker = _write(tmp_path / "notes.txt", "a regular file\n")
    ix = blocker / under if under else blocker
    res = run_qa("ingest", str(_write(tmp_path / "tram.txt", TRAM)), index=ix)
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"qa: error: index {ix}: cannot be written"), res.stderr
    assert blocker.read_text() == "a regular file\n"


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of its own (tmpfs, mounted as root), to be filled up."""
    import subprocess

    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mnt)],
                                          capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _ingests_on_a_nearly_full_disk(small_disk, index, inputs):
    """``qa ingest inputs`` with the disk filled to leave 4 KB, 40 KB and 200 KB (full at different
    steps: copying, the catalog, Chroma); yields (room, result, free blocks before the run) of
    each run that failed, and asserts that one did. The filler is removed at the end."""
    filler = small_disk / "filler"
    failed = 0
    for room in (4_096, 40_960, 200_000):
        filler.unlink(missing_ok=True)
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with open(filler, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, max(free - room, 1))
        before = os.statvfs(small_disk).f_bavail
        res = run_qa("ingest", *inputs, index=index)
        if res.returncode != 0:
            failed += 1
            yield room, res, before
    assert failed, "the disk never filled up"
    filler.unlink()


def test_a_full_disk_is_one_line_naming_the_index_and_loses_nothing(tmp_path, small_disk):
    """An ingest that ran out of space printed a traceback (shutil.Error copying the generation,
    chromadb's 'database or disk is full'): it is one line naming the index, exit 1, the
    published index untouched, and the next ingest with room again succeeds."""
    index = small_disk / "index"
    run_json("ingest", str(_write(tmp_path / "tram.txt", TRAM)), index=index)
    more = [str(_write(tmp_path / f"{n}.txt", t)) for n, t in (("cup", CUP), ("storm", STORM), ("rates", RATES))]
    for room, res, _ in _ingests_on_a_nearly_full_disk(small_disk, index, more):
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1, (room, res.stderr[-3000:])
        assert lines[0].startswith(f"qa: error: index {index}: cannot be written"), (room, lines)
        assert set(_documents(index)) == {str(tmp_path / "tram.txt")}, room
        assert run_json("search", "tram line Quay Street", "--k", "1", index=index)["results"], room
    assert run_json("ingest", *more, index=index)["added"] == 3


def test_a_write_that_fails_on_a_full_disk_removes_its_unpublished_generation(tmp_path, small_disk):
    """An ingest that ran out of space left its half-written generation (and Chroma part) on the
    full disk until the next writer removed it. The failing writer removes what it made itself,
    never a published generation: the disk holds what it held before, and says so in one line."""
    from qa.index import chroma_parts

    index = small_disk / "index"
    run_json("ingest", str(_write(tmp_path / "tram.txt", TRAM)), index=index)
    more = [str(_write(tmp_path / f"{n}.txt", t)) for n, t in (("cup", CUP), ("storm", STORM), ("rates", RATES))]
    gens = sorted(p.name for p in index.glob("gen-*"))
    for room, res, before in _ingests_on_a_nearly_full_disk(small_disk, index, more):
        assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, (room, res.stderr[-3000:])
        assert sorted(p.name for p in index.glob("gen-*")) == gens, room
        listed = {p for g in index.glob("gen-*") for p in chroma_parts.parts_of(g)}
        stored = {p.name.removesuffix(".ids.json") for p in (index / chroma_parts.PARTS_DIR).iterdir()}
        assert stored == listed, room
        assert os.statvfs(small_disk).f_bavail >= before, room  # every block it took is free again


# ---------------------------------------------------------------- finding 9: --published-at


def test_published_at_fills_missing_dates_and_override_is_explicit(tmp_path):
    ix, src = tmp_path / "ix", tmp_path / "src"
    _write(src / "dated.md", f"---\ntitle: Storm\npublished_at: 2025-03-08\n---\n{STORM}\n")
    undated = _write(src / "undated.txt", TRAM)
    filled = run_json("ingest", str(src), "--published-at", "2025-03-01", index=ix)
    assert (filled["dates_filled"], filled["dates_overridden"]) == (1, 0)
    with _catalog(ix) as db:
        dates = dict(db.execute("SELECT path, published_at FROM documents"))
    assert dates == {str((src / "dated.md").resolve()): "2025-03-08", str(undated.resolve()): "2025-03-01"}

    res = run_qa("ingest", str(src), "--override-published-at", "2025-03-02", index=ix)
    assert res.returncode == 0, res.stderr
    assert "1 dates filled" in res.stdout and "1 dates overridden" in res.stdout
    with _catalog(ix) as db:
        assert {d for (d,) in db.execute("SELECT published_at FROM documents")} == {"2025-03-02"}


def test_a_plain_reingest_keeps_the_date_and_source_the_index_filled(tmp_path):
    """A folder backfilled with --published-at and --source, then ingested again as a cron job
    does (no flags): the files are unchanged, so nothing is written and every story keeps the
    date and source the index holds (it used to be 'updated' to undated, source '')."""
    ix, src = tmp_path / "ix", tmp_path / "src"
    _write(src / "tram.txt", TRAM)
    _write(src / "tram-copy.txt", TRAM)  # the same text: kept as a duplicate of the first
    first = run_json("ingest", str(src), "--published-at", "2025-03-01", "--source", "City Desk", index=ix)
    assert (first["added"], first["duplicates"], first["dates_filled"]) == (1, 1, 2), first
    published = (ix / "CURRENT").read_text()
    again = run_json("ingest", str(src), index=ix)
    assert (again["unchanged"], again["updated"], again["added"]) == (2, 0, 0), again
    assert (ix / "CURRENT").read_text() == published, "an unchanged re-ingest published a generation"
    with _catalog(ix) as db:
        held = set(db.execute("SELECT published_at, source FROM documents"))
        held |= set(db.execute("SELECT published_at, source FROM aliases"))
    assert held == {("2025-03-01", "City Desk")}
    found = run_json("search", "tram", "--since", "2025-03-01", "--until", "2025-03-01", index=ix)
    assert found["results"] and {r["source"] for r in found["results"]} == {"City Desk"}


def test_ingesting_the_folder_that_holds_the_index_never_reads_the_index(tmp_path):
    """`cd news && qa ingest .` twice, with the default index (./index) inside the folder: the
    second run read qa's own files (its catalog, parts, id lists, model export, chat sessions) as
    articles, ~30 failed inputs and exit 1 on every run after the first. The index folder is one
    skipped input, named; the articles are unchanged."""
    news = tmp_path / "news"
    _write(news / "tram.txt", TRAM)
    _write(news / "sub" / "cup.txt", CUP)
    first = run_json("ingest", ".", cwd=news)
    assert (first["added"], first["failed"]) == (2, 0), first
    assert (news / "index" / "CURRENT").exists()
    for args in ((".",), ("./*",), ("**/*.txt",), ("index",)):
        again = run_qa("ingest", *args, "--json", cwd=news)
        report = json.loads(again.stdout)
        assert again.returncode == 0 and report["failed"] == 0, (args, again.stderr[-2000:])
        assert [(e["path"], e["error"]) for e in report["errors"]] == [
            ("index", "the index folder (--index): not read as input")], args
    assert run_json("ingest", ".", cwd=news)["unchanged"] == 2


def test_python_api_published_at_fills_only(tmp_path):
    from qa import Assistant

    bot = Assistant.open(tmp_path / "ix")
    report = bot.ingest(
        [{"id": "dated", "text": STORM, "published_at": "2025-03-08"}, {"id": "undated", "text": CUP}],
        published_at=date(2025, 1, 1),
    )
    assert (report.dates_filled, report.dates_overridden) == (1, 0)
    report = bot.ingest([{"id": "other", "text": RATES, "published_at": "2025-03-08"}], override_published_at=date(2025, 1, 2))
    assert report.dates_overridden == 1
    bot.close()
    with _catalog(tmp_path / "ix") as db:
        dates = dict(db.execute("SELECT doc_id, published_at FROM documents"))
    assert dates == {"dated": "2025-03-08", "undated": "2025-01-01", "other": "2025-01-02"}


# ---------------------------------------------------------------- one identity, several files


def _story(url: str = "", doc_id: str = "", text: str = STORM) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in (("id", doc_id), ("url", url)) if v)
    return f"---\ntitle: Harbour storm\n{head}---\n{text}\n"


@pytest.mark.parametrize("kind", ["same-url", "same-id", "id-is-the-other-file"])
def test_prune_keeps_a_story_that_another_ingested_file_still_provides(tmp_path, kind):
    ix, inbox, archive = tmp_path / "ix", tmp_path / "inbox", tmp_path / "archive"
    if kind == "same-url":
        first = _write(inbox / "story.md", _story(url="https://ledger.example/storm"))
        _write(archive / "story.md", _story(url="https://ledger.example/storm"))
    elif kind == "same-id":
        first = _write(inbox / "story.md", _story(doc_id="storm-1"))
        _write(archive / "wire.jsonl", json.dumps({"id": "storm-1", "title": "Harbour storm", "text": STORM}) + "\n")
    else:  # a record whose id is the absolute path of a file ingested without an id
        first = _write(inbox / "story.md", _story())
        record = {"id": str(first.resolve()), "title": "Harbour storm", "text": STORM}
        _write(archive / "wire.jsonl", json.dumps(record) + "\n")
    both = run_json("ingest", str(inbox), str(archive), index=ix)
    assert (both["added"], both["unchanged"], both["documents"]) == (1, 1, 1)
    first.unlink()
    pruned = run_json("ingest", str(inbox), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (0, 1), "the archive copy still provides it"
    assert [t.strip() for _, t in _documents(ix).values()] == [STORM]
    assert run_json("search", "storm closed the harbour bridge", "--k", "1", index=ix)["results"]
    # the last file gone: now it is forgotten
    for f in archive.iterdir():
        f.unlink()
    last = run_json("ingest", str(archive), "--prune", index=ix)
    assert (last["removed"], last["documents"]) == (1, 0)


def test_one_id_in_two_files_read_together_keeps_the_last_and_prunes_only_when_neither_holds_it(tmp_path):
    """Two files hold one id with different texts, ingested together: each re-ingest reported
    "0 added, 2 updated", re-embedded both and published a new generation, and the first file's
    record was dropped silently. The file read last gives the text; the other is named in one
    warning line (file and line, duplicate id) and still recorded as providing the story; an
    unchanged re-ingest writes nothing, and --prune keeps the story while either file holds it."""
    ix, src = tmp_path / "ix", tmp_path / "src"
    first = _write(src / "a" / "wire.jsonl", json.dumps({"id": "storm-1", "title": "Harbour storm", "text": STORM}) + "\n")
    last = _write(src / "b" / "s.md", _story(doc_id="storm-1", text=RATES))
    both = run_json("ingest", str(src), index=ix)
    assert (both["added"], both["updated"], both["skipped"], both["documents"]) == (1, 0, 1, 1)
    published = (ix / "CURRENT").read_text()
    for _ in range(2):
        res = run_qa("ingest", str(src), index=ix)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("0 added, 0 updated, 1 unchanged, 1 skipped, 0 failed"), res.stdout
        assert res.stderr.splitlines() == [
            f"warning: {first.resolve()}:1: duplicate id 'storm-1': replaced by the record read after it "
            f"at {last.resolve()} (the last one read is kept)"
        ]
        assert (ix / "CURRENT").read_text() == published, "an unchanged re-ingest published a new generation"
    kept = run_json("ingest", str(src), "--prune", index=ix)
    assert (kept["removed"], kept["updated"], kept["documents"]) == (0, 0, 1)
    assert {d: (p, t.strip()) for d, (p, t) in _documents(ix).items()} == {"storm-1": (str(last.resolve()), RATES)}
    last.unlink()  # the file that gave the text goes: the other one gives it now
    pruned = run_json("ingest", str(src), "--prune", index=ix)
    assert (pruned["removed"], pruned["updated"], pruned["skipped"], pruned["warnings"]) == (0, 1, 0, [])
    assert {d: (p, t.strip()) for d, (p, t) in _documents(ix).items()} == {"storm-1": (str(first.resolve()), STORM)}
    first.unlink()
    gone = run_json("ingest", str(src), "--prune", index=ix)
    assert (gone["removed"], gone["documents"]) == (1, 0)


def test_prune_keeps_an_alias_that_another_file_still_provides(tmp_path):
    ix, src = tmp_path / "ix", tmp_path / "src"
    indexed = _write(src / "indexed" / "harbour.txt", STORM)
    run_json("ingest", str(src / "indexed"), index=ix)
    copy = _write(src / "archive" / "wire.md", _story(doc_id="wire-storm"))  # read first
    _write(src / "inbox" / "wire.md", _story(doc_id="wire-storm"))
    run_json("ingest", str(src), index=ix)
    assert _aliases(ix) == {"wire-storm": str(indexed.resolve())}
    copy.unlink()
    pruned = run_json("ingest", str(src / "archive"), "--prune", index=ix)
    assert pruned["removed"] == 0 and _aliases(ix) == {"wire-storm": str(indexed.resolve())}
    # and when the indexed copy goes, the alias is indexed on its own (from the archive copy)
    indexed.unlink()
    run_json("ingest", str(src / "indexed"), "--prune", index=ix)
    assert list(_documents(ix)) == ["wire-storm"] and _aliases(ix) == {}


def test_prune_never_forgets_a_story_that_also_came_from_stdin(tmp_path):
    ix = tmp_path / "ix"
    story = _write(tmp_path / "src" / "story.md", _story(doc_id="storm-1"))
    run_json("ingest", str(tmp_path / "src"), index=ix)
    piped = run_json("ingest", "-", index=ix, stdin=json.dumps({"id": "storm-1", "title": "Harbour storm", "text": STORM}) + "\n")
    assert piped["unchanged"] == 1
    story.unlink()
    pruned = run_json("ingest", str(tmp_path / "src"), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (0, 1)
    assert list(_documents(ix)) == ["storm-1"]


def test_an_index_without_recorded_sources_is_seeded_from_its_paths(tmp_path):
    """An index written before every providing file was recorded still prunes what it should."""
    ix, src = tmp_path / "ix", tmp_path / "src"
    gone = _write(src / "one.txt", TRAM)
    _write(src / "two.txt", CUP)
    run_json("ingest", str(src), index=ix)
    with _catalog(ix) as db:
        db.execute("DROP TABLE IF EXISTS sources")
        db.execute("DELETE FROM meta WHERE key LIKE 'migration:%'")  # an older qa recorded no migrations
    gone.unlink()
    pruned = run_json("ingest", str(src), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (1, 1)


# ---------------------------------------------------------------- the report counts each input once


def test_report_counts_each_input_once_when_an_alias_is_promoted(tmp_path):
    ix, src = tmp_path / "ix", tmp_path / "src"
    x = _write(src / "x.txt", TRAM)
    _write(src / "y.txt", CUP)
    _write(src / "z.txt", TRAM)  # an alias of x
    run_json("ingest", str(src), index=ix)
    x.write_text(CUP)  # x now duplicates y; z is promoted, and z is read in this run too
    r = run_json("ingest", str(src), index=ix)
    assert (r["added"], r["updated"], r["unchanged"], r["duplicates"]) == (0, 0, 2, 1)
    assert r["documents"] == 2 and TRAM in {t.strip() for _, t in _documents(ix).values()}


def test_report_counts_a_promoted_alias_that_was_not_read_in_the_run(tmp_path):
    ix, src = tmp_path / "ix", tmp_path / "src"
    x = _write(src / "x.txt", TRAM)
    _write(src / "y.txt", CUP)
    run_json("ingest", str(src), index=ix)
    run_json("ingest", "-", index=ix, stdin=json.dumps({"id": "wire-tram", "text": TRAM}) + "\n")
    x.write_text(CUP)
    r = run_json("ingest", str(src), index=ix)
    assert (r["added"], r["updated"], r["unchanged"], r["duplicates"]) == (1, 0, 1, 1)
    assert "wire-tram" in _documents(ix)


def test_a_moved_story_is_pruned_once_no_recorded_file_exists(tmp_path):
    """Its old location (outside this run's inputs) is gone too: nothing provides it any more."""
    ix, inbox, archive = tmp_path / "ix", tmp_path / "inbox", tmp_path / "archive"
    story = _write(inbox / "story.md", _story(doc_id="storm-1"))
    run_json("ingest", str(inbox), index=ix)
    archive.mkdir()
    moved = story.rename(archive / "story.md")
    assert run_json("ingest", str(archive), index=ix)["unchanged"] == 1
    moved.unlink()
    pruned = run_json("ingest", str(archive), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (1, 0)


def _every_command_refuses(tmp_path, index, words, gens, env=None,
                           reads=(("index", "stats"), ("search", "tram line"))):
    """Each writer (ingest, rm, rebuild) and each reader in ``reads`` fails in one line naming the
    index folder and ``words``, exit 1, and the generations stay exactly ``gens``."""
    writers = (("ingest", str(_write(tmp_path / "storm.txt", STORM))), ("index", "rm", "tram"), ("index", "rebuild"))
    for args in writers + tuple(reads):
        res = run_qa(*args, index=index, env=env)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and str(index) in lines[0] and words in lines[0], (args, res.stderr)
        assert sorted(p.name for p in index.glob("gen-*")) == gens, args


@pytest.mark.parametrize("damage", ["names a missing generation", "is gone", "is garbage"])
def test_a_damaged_current_pointer_is_refused_and_deletes_nothing(tmp_path, damage):
    """CURRENT names the live generation; a writer removes every generation newer than it (a
    killed writer's). When CURRENT is damaged (a partial restore, a stray edit), that rule read
    "no live generation" and deleted the whole index at the next ingest. It is refused instead:
    one line naming the folder and CURRENT (readers say so too), and every generation stays."""
    index = tmp_path / "index"
    for name, text in (("tram", TRAM), ("cup", CUP)):
        run_json("ingest", str(_write(tmp_path / f"{name}.txt", text)), index=index)
    gens = sorted(p.name for p in index.glob("gen-*"))
    assert len(gens) == 2
    current = index / "CURRENT"
    if damage == "names a missing generation":
        current.write_text("gen-000009\n")
    elif damage == "is gone":
        current.unlink()
    else:
        current.write_text("\x00\x00")
    _every_command_refuses(tmp_path, index, "CURRENT", gens, reads=(("search", "tram line"),))


def test_a_missing_current_pointer_beside_one_generation_is_refused_and_deletes_nothing(tmp_path):
    """With QA_KEEP_GENERATIONS=1 a published index is one folder, gen-000002 after two ingests.
    CURRENT gone (a partial restore, a stray rm) read as "the one folder a killed first writer
    left": readers said "no index … run `qa ingest PATH` first" and that ingest deleted the whole
    index. A killed first writer leaves gen-000001 only; any other lone generation without
    CURRENT is refused in one line, and every generation stays."""
    index, keep = tmp_path / "index", {"QA_KEEP_GENERATIONS": "1"}
    for name, text in (("tram", TRAM), ("cup", CUP)):
        assert run_qa("ingest", str(_write(tmp_path / f"{name}.txt", text)), index=index, env=keep).returncode == 0
    assert sorted(p.name for p in index.glob("gen-*")) == ["gen-000002"]
    (index / "CURRENT").unlink()
    _every_command_refuses(tmp_path, index, "CURRENT is missing", ["gen-000002"], env=keep)
    # what a killed first writer leaves (gen-000001, no CURRENT) is still cleared by the next one
    first = tmp_path / "first"
    (first / "gen-000001").mkdir(parents=True)
    assert run_json("ingest", str(tmp_path / "storm.txt"), index=first, env=keep)["documents"] == 1


@pytest.mark.parametrize("keep", ["1", "2"])
def test_a_lone_published_first_generation_without_current_is_refused_and_kept(tmp_path, keep):
    """After a first ingest (and always with QA_KEEP_GENERATIONS=1 after one) the index is the
    lone folder gen-000001, the very folder a killed first writer leaves. With CURRENT gone,
    readers said "no index" and the next ingest deleted the published index as that writer's
    leftover. A published generation is told apart (it was marked at publish time): refused in
    one line, kept; an unpublished lone gen-000001 is still cleared."""
    index, env = tmp_path / "index", {"QA_KEEP_GENERATIONS": keep}
    assert run_qa("ingest", str(_write(tmp_path / "tram.txt", TRAM)), index=index, env=env).returncode == 0
    assert sorted(p.name for p in index.glob("gen-*")) == ["gen-000001"]
    (index / "CURRENT").unlink()
    _every_command_refuses(tmp_path, index, "CURRENT is missing", ["gen-000001"], env=env)
    # the line's own advice restores the whole index
    (index / "CURRENT").write_text("gen-000001\n")
    assert run_json("ingest", str(tmp_path / "storm.txt"), index=index, env=env)["documents"] == 2
    # a writer killed before its first publish still leaves a folder the next writer clears
    first = tmp_path / "first"
    (first / "gen-000001").mkdir(parents=True)
    (first / "gen-000001" / "catalog.sqlite").write_bytes(b"")
    assert run_json("ingest", str(tmp_path / "storm.txt"), index=first, env=env)["documents"] == 1


# ---------------------------------------------------------------- what a pruned or edited file provided


def test_a_story_last_read_from_a_pruned_file_takes_the_text_of_the_file_that_still_provides_it(tmp_path):
    """Two files carry one story (one id), with different texts; the index holds the text read
    last. When that file goes and is pruned, the story stays (the other file provides it) — with
    the other file's text, not the gone file's, which nothing provides any more."""
    ix, a, b = tmp_path / "ix", tmp_path / "a", tmp_path / "b"
    kept = _write(a / "s.md", _story(doc_id="storm-1", text=STORM))
    run_json("ingest", str(a), index=ix)
    gone = _write(b / "s.md", _story(doc_id="storm-1", text=RATES))
    assert run_json("ingest", str(b), index=ix)["updated"] == 1
    gone.unlink()
    pruned = run_json("ingest", str(b), "--prune", index=ix)
    assert (pruned["removed"], pruned["updated"], pruned["documents"]) == (0, 1, 1)
    assert {d: (p, t.strip()) for d, (p, t) in _documents(ix).items()} == {"storm-1": (str(kept.resolve()), STORM)}
    assert run_json("search", "storm closed the harbour bridge", "--k", "1", index=ix)["results"][0]["doc_id"] == "storm-1"


def test_the_text_comes_from_a_file_that_still_has_the_story_not_just_the_latest_recorded(tmp_path):
    """Three files carry one story: c, then b, then a (read last). b goes, outside this run's
    inputs; a goes and is pruned. The latest recorded file left is b, which is gone: the text is
    read from c, which still has it. A date the index filled (--published-at) stays filled."""
    ix = tmp_path / "ix"
    c = _write(tmp_path / "c" / "s.md", _story(doc_id="storm-1", text=STORM))
    b = _write(tmp_path / "b" / "s.md", _story(doc_id="storm-1", text=TRAM))
    a = _write(tmp_path / "a" / "s.md", _story(doc_id="storm-1", text=RATES))
    for folder in ("c", "b", "a"):
        run_json("ingest", str(tmp_path / folder), "--published-at", "2025-03-02", index=ix)
    b.unlink()
    a.unlink()
    pruned = run_json("ingest", str(tmp_path / "a"), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (0, 1)
    with _catalog(ix) as db:
        rows = list(db.execute("SELECT path, text, published_at FROM documents"))
    assert [(p, t.strip(), d) for p, t, d in rows] == [(str(c.resolve()), STORM, "2025-03-02")]


def test_records_a_file_no_longer_holds_are_pruned_and_only_from_a_file_read_whole(tmp_path):
    """A JSONL file edited in place: a record without an id gets one from its content, so a
    corrected record is a new id and the old one is no longer in the file; a removed record is
    not either. With --prune, what a file read whole in this run no longer holds goes (as a gone
    file's stories do); a file with a bad line prunes nothing; without --prune nothing goes."""
    ix, src = tmp_path / "ix", tmp_path / "src"
    feed = _write(src / "feed.jsonl", "".join(json.dumps(r) + "\n" for r in (
        {"title": "Harbour storm", "text": STORM}, {"title": "Rates", "text": RATES}, {"id": "tram-1", "title": "Tram", "text": TRAM})))
    run_json("ingest", str(src), index=ix)
    corrected = STORM.replace("several streets near the river", "a dozen streets by the old river docks")
    lines = [json.dumps({"title": "Harbour storm", "text": corrected}), json.dumps({"id": "tram-1", "title": "Tram", "text": TRAM})]
    feed.write_text("\n".join(lines) + "\n{not json\n")
    broken = run_json("ingest", str(src), "--prune", index=ix, ok=(1,))
    assert broken["failed"] == 1 and broken["removed"] == 0, "a file with a bad line prunes nothing"
    feed.write_text("\n".join(lines) + "\n")
    plain = run_json("ingest", str(src), index=ix)
    assert plain["removed"] == 0, "without --prune nothing goes"
    pruned = run_json("ingest", str(src), "--prune", index=ix)
    assert pruned["removed"] >= 2
    assert sorted(t.strip() for _, t in _documents(ix).values()) == sorted([corrected, TRAM])
    assert _aliases(ix) == {}


@pytest.mark.parametrize(("name", "emptied"), [
    ("wire.json", "[]"), ("wire.json", "[]\n"), ("wire.jsonl", ""), ("wire.jsonl", "\n\n"), ("wire.json", ""),
])
def test_an_emptied_file_prunes_nothing(tmp_path, name, emptied):
    """A file of records emptied (a failed export, a truncating editor) is refused alike, whatever
    its format: `.json` holding `[]` was taken as read whole and pruned every story it had given,
    while an emptied `.jsonl` pruned nothing. Deleting the file is how its stories are forgotten."""
    ix, src = tmp_path / "ix", tmp_path / "src"
    records = [{"id": "tram", "title": "Tram line", "text": TRAM}, {"id": "cup", "title": "Cup final", "text": CUP}]
    body = json.dumps(records) if name.endswith(".json") else "".join(json.dumps(r) + "\n" for r in records)
    feed = _write(src / name, body)
    assert run_json("ingest", str(src), index=ix)["documents"] == 2
    feed.write_text(emptied)
    pruned = run_json("ingest", str(src), "--prune", index=ix, ok=(0, 1))
    assert (pruned["removed"], pruned["documents"]) == (0, 2)
    assert [e["error"] for e in pruned["errors"] if e["path"].endswith(name)][0].startswith("empty file")
    feed.unlink()
    assert run_json("ingest", str(src), "--prune", index=ix, ok=(0, 1))["documents"] == 0
