"""The short-answer judge (qa.answer.judge): the shipped model, its features, how it orders the
reader's candidates and gives the confidence, and the fall-back to the reader's votes."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pytest
from test_short_reader import passage

from qa.answer.judge import (
    FEATURES,
    JUDGE,
    JUDGED_THRESHOLD,
    TOP,
    VOTES_THRESHOLD,
    features,
    judge,
    model_for,
    threshold,
)
from qa.answer.qtype import question_type
from qa.answer.short import Candidate, Occurrence, Reading, confidence, read, winner
from qa.answer.spans import Span
from qa.settings import Settings
from qa.temporal import question_time

AS_OF = date(2025, 6, 20)




QUESTION = "How many engineers were detained in Norland?"
PASSAGES = [
    passage("a", "Three engineers from Westmark were detained in Norland in January, officials said."),
    passage("b", "The three engineers detained in Norland will get a consular visit. Norland has 12 provinces."),
    passage("c", "Norland's foreign ministry said 40 journalists attended the briefing on the engineers."),
]


def judged(analyzer, **settings):
    return read(QUESTION, PASSAGES, question_time(QUESTION, AS_OF), Settings(**settings), analyzer)


def test_the_shipped_judge_is_a_small_model_for_these_features():
    data = json.loads(JUDGE.shipped.read_text(encoding="utf-8"))
    assert data["features"] == list(FEATURES) and data["kind"] == "linear"
    assert JUDGE.shipped.stat().st_size < 20_000  # kilobytes, not a neural network
    assert data["training"]["dataset"] == "realtimeqa-2024"  # fitted on the training set only
    assert JUDGE.load() is not None


def test_features_one_finite_row_per_judged_candidate(analyzer):
    r = judged(analyzer, short_answer_judge=False)
    X = features(r)
    assert X.shape == (min(TOP, len(r.candidates)), len(FEATURES))
    assert np.isfinite(X).all()


def test_the_judge_orders_the_candidates_and_its_probability_is_the_confidence(analyzer):
    r = judged(analyzer)
    assert r.judged and r.candidates
    probs = [c.probability for c in r.candidates[:TOP]]
    assert probs == sorted(probs, reverse=True) and all(0.0 < p < 1.0 for p in probs)
    assert r.confidence == probs[0]
    best = winner(r, 0.0)
    assert best is not None and best.confidence == probs[0] and best.key == r.candidates[0].key
    assert best.text == "Three"  # the two articles' engineers, not the provinces or the journalists
    assert winner(r, min(1.0, probs[0] + 1e-6)) is None  # below the threshold: no short answer


def test_without_the_judge_the_confidence_is_the_readers_vote_share(analyzer):
    r = judged(analyzer, short_answer_judge=False)
    assert not r.judged
    assert r.confidence == confidence(r.candidates)
    assert [c.score for c in r.candidates] == sorted((c.score for c in r.candidates), reverse=True)


def test_a_model_for_other_features_is_refused_and_the_votes_decide(analyzer, tmp_path, caplog):
    data = json.loads(JUDGE.shipped.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    bad = tmp_path / "judge.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    settings = Settings(short_answer_judge_model=bad)
    with caplog.at_level("WARNING", logger="qa.answer"):
        assert model_for(settings) is None
    assert "other features" in caplog.text and str(bad) in caplog.text
    r = judged(analyzer, short_answer_judge_model=bad)
    assert not r.judged and r.confidence == confidence(r.candidates)


def test_a_missing_model_file_is_a_warning_not_a_crash(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="qa.answer"):
        assert model_for(Settings(short_answer_judge_model=tmp_path / "none.json")) is None
    assert "no such file" in caplog.text


def test_the_name_the_question_asks_about_is_never_a_candidate_judged_or_not(analyzer):
    q = "Which club did striker Marta Quist join this week?"
    ps = [passage("a", "Marta Quist has joined Harbour City FC. Marta Quist said she was delighted."),
          passage("b", "Fans of Marta Quist gathered outside. Marta Quist waved.")]
    for judged in (True, False):
        r = read(q, ps, question_time(q, AS_OF), Settings(short_answer_judge=judged), analyzer)
        assert "marta quist" not in [c.key for c in r.candidates]


def test_a_number_is_not_a_form_of_a_longer_number(analyzer):
    """"2 percent" must not take a share of "2.1 percent"'s votes (normalised "2 1 percent"): the
    tiling of names' forms ("Harvard" in "Harvard University") is for words, not digits."""
    q = "What percentage did inflation fall to?"
    ps = [passage("a", "Inflation fell to 2.1 percent in February, the statistics office said."),
          passage("b", "Annual inflation fell to 2.1 percent in February from 2.4 percent."),
          passage("c", "The bank targets inflation of 2 percent over the medium term.")]
    r = read(q, ps, question_time(q, AS_OF), Settings(short_answer_judge=False), analyzer)
    scores = {c.key: c.score for c in r.candidates}
    assert r.candidates[0].key == "2 1 percent"
    own = sum(max(o.score for o in c.occurrences) for c in r.candidates if c.key == "2 percent")
    assert math.isclose(scores["2 percent"], own)


def test_one_article_repeating_a_figure_does_not_outvote_two_that_agree(analyzer):
    """A repeat within one article counts as the reader's votes count it (a little), so one
    article cannot make its figure the confident answer by saying it again and again."""
    ps = [passage("a", "Twelve engineers from Westmark were detained in Norland in January, officials said."),
          passage("b", "The twelve engineers detained in Norland will get a consular visit, the ministry said."),
          passage("d", " ".join(["Forty engineers were detained in Norland, the pamphlet said."] * 5))]
    r = read(QUESTION, ps, question_time(QUESTION, AS_OF), Settings(), analyzer)
    assert r.judged and r.candidates[0].key == "twelve", [(c.key, round(c.probability, 3)) for c in r.candidates[:3]]


def test_a_nan_confidence_is_never_an_answer():
    q = "How many engineers were detained?"
    p = PASSAGES[0]
    occ = Occurrence(p, 0, (0, len(p.text)), Span(0, 5, "CARDINAL"), "Three", 1.0)
    cand = Candidate("three", [occ], score=1.0, probability=float("nan"))
    assert winner(Reading(question_type(q), [cand], judged=True), 0.3) is None


def test_the_threshold_is_the_setting_or_the_default_for_that_confidence():
    assert threshold(Settings(), judged=True) == JUDGED_THRESHOLD
    assert threshold(Settings(), judged=False) == VOTES_THRESHOLD
    assert threshold(Settings(short_answer_threshold=0.8), judged=True) == 0.8
    assert threshold(Settings(short_answer_threshold=0.8), judged=False) == 0.8


@pytest.mark.parametrize("judged", [True, False])
def test_with_a_time_cue_no_candidate_comes_from_a_sentence_about_another_time(analyzer, judged):
    """The window's rule for evidence (``Window.admits_sentence``, as the quoted sentences obey it)
    holds for the short answer's sentence too: this week's story about last year's parade does not
    answer "this week" — judged or voted."""
    q = "Thousands of people attended a victory parade this week in which city?"
    as_of = date(2025, 11, 13)
    day = date(2025, 11, 10)
    ps = [passage("anniversary", "Thousands of people attended last year's victory parade in Lakeside, and shop "
                                 "owners still talk about the crowds.", day=day),
          passage("now", "Crowds in the thousands packed the waterfront in Harbor City on Monday as the Herons "
                         "celebrated their championship.", day=day)]
    r = read(q, ps, question_time(q, as_of), Settings(short_answer_judge=judged), analyzer)
    docs = {o.passage.doc_id for c in r.candidates for o in c.occurrences}
    assert docs == {"now"}
    assert r.candidates[0].key == "harbor city"


def test_the_judge_reorders_only_its_first_candidates_and_keeps_the_rest_in_order():
    q = "Which club did Marta Quist join?"
    p = PASSAGES[0]
    cands = [Candidate(f"club {chr(97 + i)}", [Occurrence(p, i % 3, (0, len(p.text)), Span(0, 5, "ORG"), f"Club {chr(97 + i)}",
                                                          1.0 / (1 + i), fit=1.0, close=0.5, overlap=0.5)],
                       score=1.0 / (1 + i)) for i in range(TOP + 5)]
    model = JUDGE.load()
    assert model is not None
    r = judge(Reading(question_type(q), cands), model)
    assert r.judged and len(r.candidates) == TOP + 5
    assert {c.key for c in r.candidates[:TOP]} == {c.key for c in cands[:TOP]}
    assert r.candidates[TOP:] == cands[TOP:]  # unjudged: after the judged, in the reader's order
    assert all(c.probability == 0.0 for c in r.candidates[TOP:])
