"""`qa eval` end to end on a tiny dataset built from the samples."""

from __future__ import annotations

import json

from conftest import SAMPLES, run_json


def _dataset(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "articles.jsonl").write_text((SAMPLES / "wire-feed.jsonl").read_text())
    qs = [
        {"id": "q1", "asked_on": "2025-03-10", "question": "Which team won the national cup?", "answer": "Port Athletic"},
        {"id": "q2", "asked_on": "2025-03-10", "question": "To what level did the central bank cut its interest rate?", "answer": "2.75 percent"},
        {"id": "q3", "asked_on": "2025-03-10", "question": "How many homes lost power in Storm Ilse?", "answer": "80,000"},
        # asked before the cup final was reported: the article does not exist yet on that day
        {"id": "q4", "asked_on": "2025-03-02", "question": "Which team won the national cup?", "answer": "Port Athletic"},
        {"id": "q5", "asked_on": "2025-04-10", "question": "Who is the new ambassador to Japan?", "answer": "Magnus Ekdahl"},
    ]
    (d / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in qs) + "\n")
    return d


def test_eval_reports_recall_mrr_answers_and_ceiling_per_month(tmp_path):
    out = run_json("eval", str(_dataset(tmp_path)), "--k", "5")
    overall = out["overall"]
    assert overall["questions"] == 5
    assert overall["recall@5"] == 0.6  # q1-q3 found; q4 is as of a day before its article; q5 is not in the corpus
    assert overall["ceiling"] == 0.8  # every gold answer but q5's occurs in the corpus
    assert 0 < overall["mrr@10"] <= overall["recall@5"]
    assert overall["answer_contains_gold"] >= 0.4
    assert set(out["by_month"]) == {"2025-03", "2025-04"}
    assert out["by_month"]["2025-04"]["ceiling"] == 0.0
    assert out["by_quarter"]["2025-Q1"]["questions"] == 4 and out["by_quarter"]["2025-Q2"]["questions"] == 1
    assert out["ranking"] == "learned"  # the shipped learned ranker is on by default


def test_eval_says_which_ranking_ran(tmp_path):
    from conftest import run_qa

    dataset = _dataset(tmp_path)
    res = run_qa("eval", str(dataset), "--k", "5", "--no-answers", "--json", env={"QA_LEARNED_RANKING": "false"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["ranking"] == "fusion" and out["overall"]["questions"] == 5
    res = run_qa("eval", str(dataset), "--k", "5", "--no-answers", "--json",
                 env={"QA_LEARNED_RANKING": "true", "QA_RANK_MODEL": str(tmp_path / "absent.json")})
    assert res.returncode == 0 and json.loads(res.stdout)["ranking"] == "fusion"


def test_eval_bad_dataset_is_a_clear_error(tmp_path):
    from conftest import run_qa

    res = run_qa("eval", str(tmp_path))
    assert res.returncode == 2 and "articles.jsonl" in res.stderr and "Traceback" not in res.stderr


import pytest  # noqa: E402

GOOD = '{"question": "Which team won the national cup?", "answer": "Port Athletic", "asked_on": "2025-03-10"}\n'


@pytest.mark.parametrize("content, where, why", [
    (GOOD.encode() + b'{"question": 5, "answer": "x", "asked_on": "2025-03-10"}\n', ":2:", "question"),
    (GOOD.encode() + b"[1, 2]\n", ":2:", "not a JSON object"),
    (GOOD.encode() + b'{"question": "Who?", "answer": "", "asked_on": "2025-03-10"}\n', ":2:", "answer"),
    (GOOD.encode() + b'{"question": "Who?", "answer": ["a"], "asked_on": "2025-03-10"}\n', ":2:", "answer"),
    (GOOD.encode() + b'{"question": "Who?", "answer": "a", "asked_on": 20250310}\n', ":2:", "asked_on"),
    (b'\xff\xfe' + GOOD.encode(), ":1:", "UTF-8"),
    (b"", "questions.jsonl", "no questions"),
    (b"\n  \n", "questions.jsonl", "no questions"),
])
def test_a_malformed_questions_file_is_one_line_naming_file_and_line(tmp_path, content, where, why):
    """A question that is not text, a line that is not an object, bytes that are not UTF-8 were a
    Python traceback (exit 1); an empty file an evaluation of 0 questions scoring 0.0 (exit 0)."""
    from conftest import run_qa

    d = _dataset(tmp_path)
    (d / "questions.jsonl").write_bytes(content)
    res = run_qa("eval", str(d), "--no-answers", "--json")
    assert res.returncode == 2, (res.returncode, res.stdout[-300:], res.stderr[-1500:])
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1 and res.stdout == ""
    assert "questions.jsonl" in res.stderr and where in res.stderr and why in res.stderr, res.stderr


def test_a_questions_file_that_cannot_be_read_is_one_line(tmp_path):
    from conftest import run_qa

    d = _dataset(tmp_path)
    (d / "questions.jsonl").unlink()
    (d / "questions.jsonl").mkdir()
    res = run_qa("eval", str(d), "--no-answers")
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert "questions.jsonl" in res.stderr


@pytest.mark.parametrize("extra, where, why", [
    (b"not json\n", ":4:", "JSON"),
    (b'{"id": "no-text", "title": "A record without its text"}\n', ":4:", "text"),
    (None, "articles.jsonl", "empty"),
])
def test_a_bad_articles_file_is_one_line_naming_file_and_line(tmp_path, extra, where, why):
    """A bad line of articles.jsonl was dropped without a word (exit 0, the ceiling and the scores
    quietly lower); an empty articles.jsonl was 'no index at /tmp/qa-eval-…/index', a folder the
    user never named."""
    from conftest import run_qa

    d = _dataset(tmp_path)
    articles = d / "articles.jsonl"
    if extra is None:
        articles.write_bytes(b"")
    else:
        articles.write_bytes(articles.read_bytes() + extra)
    res = run_qa("eval", str(d), "--no-answers", "--json")
    assert res.returncode == 2, (res.returncode, res.stdout[-300:], res.stderr[-1500:])
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1 and res.stdout == ""
    assert "articles.jsonl" in res.stderr and where in res.stderr and why in res.stderr and "qa-eval-" not in res.stderr
