"""Generation through a real OpenAI-compatible llama.cpp server on 127.0.0.1 (SmolLM2-135M).

The small model's wording is never asserted. Where a test needs a known answer, the real server
is made to produce it with a llama.cpp grammar (constrained decoding), so parsing, verification
and fallback are exercised on what really comes back over HTTP.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from conftest import run_qa
from qa.answer.generate import Generator
from qa.assistant import Assistant
from qa.answer.llms import free_port
from qa.settings import Settings

AS_OF = date(2025, 11, 24)
QUESTION = "When did Putin and Netanyahu last speak?"


def _forced(url: str, text: str, settings: Settings) -> Generator:
    """A generator whose real server answer is exactly ``text`` (GBNF grammar)."""
    from langchain_openai import ChatOpenAI

    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    llm = ChatOpenAI(model="smollm2", base_url=url, api_key="x", max_tokens=120, temperature=0,
                     timeout=60, max_retries=0, extra_body={"grammar": f'root ::= "{escaped}"'})
    return Generator(llm, "openai:smollm2", settings)


def test_cli_request_reaches_the_server_and_reports_backend(seed_index, llama_server):
    res = run_qa("ask", QUESTION, "--as-of", "2025-11-24", "--llm", "openai:smollm2",
                 "--base-url", llama_server, "--json", index=seed_index)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["backend"] == "openai" and out["model"] == "smollm2"
    assert out["usage"]["prompt_tokens"] > 100  # counted by the server: the prompt got there
    assert out["usage"]["completion_tokens"] > 0 and out["raw_answer"]
    assert out["latency_ms"] > 0
    assert isinstance(out["fallback"], bool) and out["citations"]
    for c in out["citations"]:  # verified or fallen back, every citation is an exact quote
        assert c["quote"] in c["text"]


def test_streaming_yields_verified_text_then_the_answer(seed_index, llama_server):
    bot = Assistant(Settings(index=seed_index, llm="openai:smollm2", llm_base_url=llama_server, llm_max_tokens=40))
    stream = bot.ask_stream(QUESTION, as_of=AS_OF)
    pieces, final = list(stream), stream.answer
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == final.answer  # only verified sentences (or the fallback) are streamed
    assert final.extra["raw_answer"] and final.extra["usage"]["completion_tokens"] > 0
    res = run_qa("ask", QUESTION, "--as-of", "2025-11-24", "--llm", "openai:smollm2", "--base-url",
                 llama_server, "--stream", index=seed_index, env={"QA_LLM_MAX_TOKENS": "40"})
    assert res.returncode == 0 and "Sources" in res.stdout


def test_markers_parsed_bad_markers_removed(seed_index, llama_server):
    s = Settings(index=seed_index)
    bot = Assistant(s)
    prep = bot._prepare(QUESTION, AS_OF, None, None)
    first = prep.relevant[0]
    sentence = next(x for x in first.text.split("\n") if "Saturday" in x)
    gen = _forced(llama_server, f"{sentence} [1][9]", s)
    ans = gen.answer(prep)
    assert ans.extra["raw_answer"] == f"{sentence} [1][9]"
    assert ans.extra["fallback"] is False and ans.answered
    assert ans.extra["verification"]["removed_markers"] == [9]
    assert ans.answer.endswith("[1].") and "[9]" not in ans.answer  # a marker after the full stop moves before it
    assert ans.citations[0].doc_id == first.doc_id and ans.citations[0].quote in first.text


def test_invented_quote_and_refusal_fall_back_to_extractive(seed_index, llama_server):
    s = Settings(index=seed_index)
    bot = Assistant(s)
    prep = bot._prepare(QUESTION, AS_OF, None, None)
    for forced in ['Netanyahu said "we will build a bridge to the moon together" [1].', "I don't know."]:
        ans = _forced(llama_server, forced, s).answer(prep)
        assert ans.extra["fallback"] is True, forced
        assert ans.extra["raw_answer"] == forced
        assert "15 November 2025" in ans.answer  # the extractive answer took over
        assert ans.citations and ans.citations[0].quote in ans.citations[0].text


def test_nothing_relevant_means_no_model_call(seed_index, llama_server):
    res = run_qa("ask", "What is the boiling point of mercury in kelvin?", "--llm", "openai:smollm2",
                 "--base-url", llama_server, "--json", index=seed_index)
    assert res.returncode == 3
    out = json.loads(res.stdout)
    assert out["answered"] is False and out["llm_called"] is False


@pytest.mark.parametrize("base", ["dead", "notfound"])
def test_endpoint_errors_are_one_line(seed_index, llama_server, base):
    url = f"http://127.0.0.1:{free_port()}/v1" if base == "dead" else llama_server.replace("/v1", "/nothing-here")
    res = run_qa("ask", QUESTION, "--llm", "openai:smollm2", "--base-url", url, index=seed_index,
                 env={"QA_LLM_TIMEOUT": "10", "QA_LLM_MAX_RETRIES": "0"})
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: LLM") and "Traceback" not in res.stderr
    assert ("not reachable" in lines[0]) if base == "dead" else ("not found" in lines[0] or "HTTP 404" in lines[0])


def test_bad_backend_string_is_a_usage_error(seed_index):
    res = run_qa("ask", QUESTION, "--llm", "gpt4", index=seed_index)
    assert res.returncode == 2 and "not a backend" in res.stderr


def test_gguf_backend_runs_the_model_in_process(seed_index, llama_server):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "helpers"))
    from llama_server import smollm2_path

    res = run_qa("ask", QUESTION, "--as-of", "2025-11-24", "--llm", f"gguf:{smollm2_path()}", "--json",
                 index=seed_index, env={"QA_LLM_MAX_TOKENS": "30"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["backend"] == "gguf" and out["usage"]["prompt_tokens"] > 100 and out["raw_answer"]
    missing = run_qa("ask", QUESTION, "--llm", "gguf:/nonexistent/model.gguf", index=seed_index)
    assert missing.returncode == 2 and "no such model file" in missing.stderr


def test_follow_up_rewritten_by_the_llm_when_one_is_configured(seed_index, llama_server):
    from qa.conversation import Conversation

    s = Settings(index=seed_index, llm="openai:smollm2", llm_base_url=llama_server)
    bot = Assistant(s)
    # the model's own wording, keeping the rule's names and day ("15 November 2025"), is used
    bot._generators["openai:smollm2"] = _forced(llama_server, "Before 15 November 2025, when had Putin and Netanyahu spoken?", s)
    conv = Conversation(bot, llm="openai:smollm2")
    conv.ask("When did Putin and Netanyahu last speak?", as_of=AS_OF)
    standalone, _ = conv.ask("And before that?", as_of=AS_OF)
    assert standalone == "Before 15 November 2025, when had Putin and Netanyahu spoken?"
