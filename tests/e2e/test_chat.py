"""`qa chat` driven as a real terminal program (pexpect)."""

from __future__ import annotations

import json
import os

import pexpect

ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}  # plain text to match (rich honours both)

from conftest import qa_executable


def test_chat_follow_ups_sources_reset_and_sessions(seed_index):
    child = pexpect.spawn(
        qa_executable(), ["chat", "--index", str(seed_index), "--as-of", "2025-11-24", "--session", "t1"],
        encoding="utf-8", timeout=120, dimensions=(50, 200), env=ENV,
    )
    try:
        child.expect("you> ")
        child.sendline("When did Putin and Netanyahu last speak?")
        child.expect("15 November 2025")
        child.expect("you> ")
        child.sendline("And before that?")
        child.expect(r"\(asking: When did Putin and Netanyahu last speak before Saturday 15 November 2025\?\)")
        child.expect("October 2025")
        child.expect("August")
        child.expect("you> ")
        child.sendline("/sources")
        child.expect(r"\[1\]")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    saved = json.loads((seed_index / "sessions" / "t1.json").read_text())
    assert [t["question"] for t in saved["turns"]] == ["When did Putin and Netanyahu last speak?", "And before that?"]

    # the session resumes: a follow-up goes on from the saved turns
    child = pexpect.spawn(qa_executable(), ["chat", "--index", str(seed_index), "--as-of", "2025-11-24", "--session", "t1"],
                          encoding="utf-8", timeout=120, dimensions=(50, 200), env=ENV)
    try:
        child.expect("resumed session")
        child.expect("you> ")
        child.sendline("And before that?")
        child.expect(r"before October 2025\?\)")
        child.expect("August 2025")
        child.expect("you> ")
        child.sendline("/reset")
        child.expect("forgotten")
        child.expect("you> ")
        child.sendline("And before that?")  # nothing to follow up on any more: asked as is
        child.expect("you> ")
        assert "(asking:" not in child.before
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_chat_json_prints_one_answer_object_a_line(tmp_path):
    """`echo … | qa chat --json` printed the banner, the answers and their sources as text: a
    program asking for JSON got none (--json was read only with --list or --export)."""
    import subprocess

    from conftest import SAMPLES, run_json

    index = tmp_path / "index"
    run_json("ingest", str(SAMPLES), index=index)
    res = subprocess.run(
        [qa_executable(), "chat", "--json", "--index", str(index), "--as-of", "2025-03-10"],
        input="Which team won the national cup?\n/sources\nWhat about the storm?\n\n/exit\n",
        capture_output=True, text=True, timeout=300, env=ENV,
    )
    assert res.returncode == 0, res.stderr
    turns = [json.loads(line) for line in res.stdout.splitlines()]
    assert [t["message"] for t in turns] == ["Which team won the national cup?", "What about the storm?"]
    for t in turns:
        assert {"question", "answer", "answered", "citations", "short_answer", "short_answer_reason", "as_of"} <= set(t)
    assert "Port Athletic" in turns[0]["answer"] and turns[0]["as_of"] == "2025-03-10"
