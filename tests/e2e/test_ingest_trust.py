"""Issue #11, data loss: prune scope and paths, the one "forget", alias content, `index rm` on a
missing index, and `--published-at` filling (never overriding) dates. Through the real `qa`
command (subprocesses) and the Python API, on real on-disk indexes."""

from __future__ import annotations

import json
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
