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
