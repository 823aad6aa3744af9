"""Short answers end to end: the real `qa ask --json` on the samples and the seed article, the
HTTP API (/ask and /v1/chat/completions) and the web page in headless Chromium."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import httpx
import pytest

from conftest import SAMPLES, run_json, run_qa
from qa.answer.judge import JUDGED_THRESHOLD
from test_web import chat_page, served  # noqa: F401  (the samples behind a real `qa serve`)


ANY_CONFIDENCE = {"QA_SHORT_ANSWER_THRESHOLD": "0"}


def _span_in_quote(out: dict) -> tuple[dict, str]:
    """The short answer and the text of its span, checked to lie inside its citation's quote."""
    short = out["short_answer"]
    cite = next(c for c in out["citations"] if c["n"] == short["n"])
    assert cite["start"] <= short["start"] < short["end"] <= cite["end"]
    return short, cite["quote"][short["start"] - cite["start"] : short["end"] - cite["start"]]


@pytest.mark.parametrize(
    ("question", "text", "kind"),
    [
        ("What percentage did inflation fall to in February?", "2.1 percent", "percent"),
        ("How many Westmark engineers were detained in Norland?", "three", "number"),
    ],
)
def test_ask_json_leads_with_the_short_answer_and_its_exact_span(sample_index, question, text, kind):
    """Wiring and format, whatever the judge's confidence (threshold 0: the reader's winner leads)."""
    out = run_json("ask", question, "--as-of", "2025-03-10", index=sample_index, env=ANY_CONFIDENCE)
    short, spanned = _span_in_quote(out)
    assert short["text"] == spanned == text and short["n"] == 1
    assert short["type"] == kind
    assert 0 < short["confidence"] <= 1
    led = re.compile(rf"{re.escape(text)} \((reported|on|in) [^)]+ 2025\) \[1\]: ")  # and the news' date
    assert led.match(out["answer"]), out["answer"]
    human = run_qa("ask", question, "--as-of", "2025-03-10", index=sample_index, env=ANY_CONFIDENCE)
    assert human.returncode == 0 and led.match(human.stdout), human.stdout


def test_at_the_default_threshold_a_short_answer_leads_only_when_confident(sample_index):
    question = "How many Westmark engineers were detained in Norland?"
    out = run_json("ask", question, "--as-of", "2025-03-10", index=sample_index)
    short, spanned = _span_in_quote(out)
    assert short["text"] == spanned == "three"
    assert short["confidence"] >= JUDGED_THRESHOLD
    strict = run_json("ask", question, "--as-of", "2025-03-10", index=sample_index,
                      env={"QA_SHORT_ANSWER_THRESHOLD": str(min(1.0, short["confidence"] + 0.01))})
    assert strict["short_answer"] is None and strict["short_answer_reason"] == "no confident short answer"
    assert strict["citations"] and "three Westmark engineers" in strict["answer"]  # the sentences stand


def test_when_answers_keep_the_dated_lead_and_the_short_answer_is_the_date(sample_index):
    out = run_json("ask", "When did Varga and Hale last speak?", "--as-of", "2025-03-10", index=sample_index)
    assert out["answer"].startswith("On Saturday 8 March 2025 [1]:")
    short, spanned = _span_in_quote(out)
    assert short["text"] == "8 March 2025" and short["type"] == "date" and spanned == "Saturday"


@pytest.mark.parametrize(
    ("question", "lead", "text", "spanned"),
    [
        # "on Thursday, its second cut this year": the lead and short answer were "2025"
        ("When did the central bank last cut rates?", "On Thursday 6 March 2025", "6 March 2025", "Thursday"),
        # "the strongest storm … since Storm Gorm in November 2023": they were Storm Gorm's month
        ("When did the storm hit?", "On Saturday 1 March 2025", "1 March 2025", "Saturday morning"),
    ],
)
def test_a_when_answer_states_the_most_precise_date_of_the_event_asked_about(sample_index, question, lead, text, spanned):
    out = run_json("ask", question, "--as-of", "2025-03-10", index=sample_index, env=ANY_CONFIDENCE)
    assert out["answer"].startswith(f"{lead} [1]:"), out["answer"]
    short, span = _span_in_quote(out)
    assert (short["text"], span) == (text, spanned)


def test_a_question_without_a_short_answer_says_so_and_quotes_sentences(sample_index):
    out = run_json("ask", "All of these teams played in the cup final except:", "--as-of", "2025-03-10",
                   index=sample_index, ok=(0, 3))
    assert out["short_answer"] is None
    if out["answered"]:
        assert out["short_answer_reason"]
        human = run_qa("ask", "All of these teams played in the cup final except:", "--as-of", "2025-03-10",
                       index=sample_index)
        assert human.stdout.startswith("(")  # the reason, then the quoted sentences


@pytest.mark.parametrize(
    ("question", "as_of", "code", "short"),
    [
        ("How many Westmark engineers were detained in Norland?", "2025-03-10", 0, True),
        ("All of these teams played in the cup final except:", "2025-03-10", 0, False),
        ("What is the boiling point of mercury?", "2025-03-10", 3, False),  # nothing relevant
        ("Who won the national cup this week?", "2025-06-20", 3, False),  # nothing from the window
    ],
)
def test_ask_json_always_says_why_there_is_no_short_answer(sample_index, question, as_of, code, short):
    """`short_answer_reason` is always in the object: null with a short answer, else why not
    (an unanswered question too, and a generated answer)."""
    out = run_json("ask", question, "--as-of", as_of, index=sample_index, ok=(code,))
    assert "short_answer_reason" in out, sorted(out)
    if short:
        assert out["short_answer"] is not None and out["short_answer_reason"] is None
    else:
        assert out["short_answer"] is None
        assert isinstance(out["short_answer_reason"], str) and out["short_answer_reason"]
    if not out["answered"]:
        assert out["short_answer_reason"] != "no confident short answer"  # the reason is that nothing answered


def test_a_generated_answer_also_says_why_it_has_no_short_answer(sample_index):
    sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
    from scripted_llm import Script, ScriptedLLM

    with ScriptedLLM() as llm:
        llm.script = lambda prompt: Script([], status=500)  # the extractive answer stands in, as a fallback
        res = run_qa("ask", "How many Westmark engineers were detained in Norland?", "--as-of", "2025-03-10",
                     "--llm", "openai:scripted", "--base-url", llm.url, "--json", index=sample_index,
                     env={"QA_LLM_MAX_RETRIES": "0"}, timeout=120)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["fallback"] is True, res.stderr
    assert out["short_answer"] is None and isinstance(out["short_answer_reason"], str) and out["short_answer_reason"]


def test_seed_short_answer_is_the_date_of_the_call(seed_index):
    out = run_json("ask", "When did Putin and Netanyahu last speak?", "--as-of", "2025-11-24", index=seed_index)
    short, spanned = _span_in_quote(out)
    assert short["text"] == "15 November 2025" and spanned == "Saturday"


@pytest.mark.slow
def test_http_ask_and_chat_completions_carry_the_short_answer(served):
    body = {"question": "How many Westmark engineers were detained in Norland?", "as_of": "2025-03-10"}
    ask = httpx.post(f"{served}/ask", json=body, timeout=120).json()
    assert _span_in_quote(ask)[1] == "three"
    chat = httpx.post(f"{served}/v1/chat/completions", timeout=120, json={
        "model": "qa", "as_of": "2025-03-10", "messages": [{"role": "user", "content": body["question"]}]}).json()
    assert chat["qa"]["short_answer"] == ask["short_answer"]
    assert ask["short_answer_reason"] is None and chat["qa"]["short_answer_reason"] is None
    unanswered = httpx.post(f"{served}/ask", json={**body, "question": "What is the boiling point of mercury?"},
                            timeout=120).json()
    assert unanswered["answered"] is False and unanswered["short_answer"] is None and unanswered["short_answer_reason"]
    assert chat["choices"][0]["message"]["content"].startswith("three \\(reported Saturday 8 March 2025\\) [1]\\:")  # markdown escaped


@pytest.mark.slow
def test_web_page_highlights_the_span_inside_the_quote(served, tmp_path):
    with chat_page(f"{served}/?as_of=2025-03-10", "How many Westmark engineers were detained in Norland?") as page:
        first = page.locator(".turn .sources li").first
        mark = first.locator("blockquote mark.short")
        assert mark.inner_text() == "three"
        assert page.locator(".turn .a").first.inner_text().startswith("three (reported Saturday 8 March 2025) [1]")
        page.screenshot(path=str(tmp_path / "short.png"), full_page=True)
        if Path("/tmp").is_dir():
            Path("/tmp/qa-short-answer.png").write_bytes((tmp_path / "short.png").read_bytes())


@pytest.mark.slow
def test_eval_reports_short_answer_metrics(tmp_path):
    """`qa eval` scores short answers (exact match, F1, answered, accuracy when answered) per month."""
    data = tmp_path / "set"
    data.mkdir()
    (data / "articles.jsonl").write_text((SAMPLES / "wire-feed.jsonl").read_text())
    (data / "questions.jsonl").write_text(json.dumps(
        {"id": "1", "asked_on": "2025-03-10", "question": "What percentage did inflation fall to in February?",
         "answer": "2.1 percent"}) + "\n")
    out = run_json("eval", str(data), index=tmp_path / "index", env=ANY_CONFIDENCE)  # the scoring's wiring
    row = out["by_month"]["2025-03"]
    assert row["short_exact_match"] == row["short_answered"] == row["short_accuracy_answered"] == 1.0
    assert row["short_f1"] == 1.0 and out["overall"]["short_exact_match"] == 1.0
