"""The learned ranker's features on hand-made candidates: each one measures what its name says."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from qa.rank.features import FEATURES, NO_EVENT, Candidate, extract
from qa.temporal import question_time
from qa.types import UNDATED, ChunkRecord

AS_OF = date(2025, 6, 20)  # a Friday


def Cand(text: str, record: ChunkRecord, **ranked: float) -> Candidate:
    ranked.setdefault("similarity", 0.5)
    ranked.setdefault("fused", 0.01)
    return Candidate(f"{record.doc_id}:{record.chunk_index}:{text[:10]}", text, record, **ranked)  # type: ignore[arg-type]


def rec(doc: str = "d1", index: int = 0, title: str = "", day: date | None = AS_OF,
        events: tuple[date, date] | None = None) -> ChunkRecord:
    ev_lo, ev_hi = (events[0].toordinal(), events[1].toordinal()) if events else (UNDATED, UNDATED)
    return ChunkRecord(doc_id=doc, chunk_index=index, start=0, end=10, title=title, published_at=day,
                       published_day=day.toordinal() if day else UNDATED, event_first_day=ev_lo,
                       event_last_day=ev_hi)


def feats(question: str, cands: list[Cand], as_of: date = AS_OF) -> list[dict[str, float]]:
    X = extract(question, question_time(question, as_of), cands)
    assert X.shape == (len(cands), len(FEATURES)) and np.isfinite(X).all()
    return [dict(zip(FEATURES, row.tolist())) for row in X]


def test_no_candidates_give_an_empty_matrix() -> None:
    assert extract("anything", None, []).shape == (0, len(FEATURES))


def test_first_stage_scores_are_relative_to_the_pool() -> None:
    cands = [
        Cand("a", rec("d1"), similarity=0.8, fused=0.03, dense_rank=1, lexical_rank=2, lexical_score=10.0),
        Cand("b", rec("d2"), similarity=0.5, fused=0.02, dense_rank=3),
        Cand("c", rec("d3"), similarity=0.3, fused=0.01, lexical_rank=1, lexical_score=20.0, prior=1.5),
    ]
    f = feats("harbour bridge", cands)
    assert f[0]["dense_sim"] == pytest.approx(0.8) and f[0]["dense_gap"] == pytest.approx(0.0)
    assert f[1]["dense_gap"] == pytest.approx(0.3)
    assert f[0]["dense_rank"] == pytest.approx(1.0) and f[1]["dense_rank"] == pytest.approx(2.0)
    assert f[2]["dense_rank"] == pytest.approx(math.log2(1 + 2 * 3))  # not in the dense list
    assert f[2]["bm25_rel"] == pytest.approx(1.0) and f[0]["bm25_rel"] == pytest.approx(0.5)
    assert f[1]["bm25_rel"] == 0.0 and f[1]["bm25_rank"] == pytest.approx(math.log2(7))
    assert [r["fused_rank"] for r in f] == pytest.approx([1.0, math.log2(3), 2.0])
    assert f[0]["fused_rel"] == pytest.approx(1.0) and f[2]["fused_rel"] == pytest.approx(0.015 / 0.03)
    assert f[2]["prior"] == pytest.approx(1.5)


def test_question_words_coverage_title_pairs_and_proximity() -> None:
    q = "Which bank raised interest rates in Norland?"
    cands = [
        Cand("The central bank of Norland raised interest rates on Thursday.", rec("d1", title="Norland bank")),
        Cand("Interest in the festival grew. " + "Nothing else happened here at all today. " * 3
             + "Rates at the bank rose.", rec("d2")),
        Cand("A river flooded the valley.", rec("d3", title="Storm")),
    ]
    f = feats(q, cands)
    # content words: bank, raised, interest, rates, norland
    assert f[0]["cover"] == pytest.approx(1.0)
    assert f[1]["cover"] == pytest.approx(3 / 5)
    assert f[2]["cover"] == 0.0 and f[2]["cover_idf"] == 0.0
    assert 0 < f[1]["cover_idf"] < f[0]["cover_idf"] == pytest.approx(1.0)
    assert f[0]["title_cover"] == pytest.approx(2 / 5) and f[1]["title_cover"] == 0.0
    assert f[0]["bigrams"] > f[1]["bigrams"] == 0.0  # "interest rates" adjacent only in the first
    assert f[0]["proximity"] == pytest.approx(1.0)
    assert f[1]["proximity"] < f[0]["proximity"]  # "interest" far from "rates" and "bank"
    assert f[0]["doc_cover"] == pytest.approx(1.0)


def test_the_best_sentence_and_whether_it_holds_what_is_asked() -> None:
    """sent_cover: the question's words gathered in one sentence, not spread over the passage;
    sent_fit: that sentence holds a name the question does not name (a number for "how many")."""
    q = "Which company bought the harbour ferry line?"
    together = Cand("Talbot Marine bought the harbour ferry line last year. Shares rose.", rec("d1"))
    spread = Cand("The company said little. A harbour was busy. The ferry ran late. A line formed. "
                  "It bought bread.", rec("d2"))
    no_name = Cand("Someone bought the harbour ferry line. Nobody knows who.", rec("d3"))
    f = feats(q, [together, spread, no_name] + [Cand(f"Rain fell {i}.", rec(f"r{i}")) for i in range(4)])
    assert f[0]["sent_cover"] > f[1]["sent_cover"] and f[0]["sent_cover"] == pytest.approx(f[2]["sent_cover"])
    assert f[1]["cover"] >= f[0]["cover"]  # the passage as a whole covers as much
    assert f[0]["sent_fit"] == 1.0 and f[2]["sent_fit"] == 0.0

    counted = feats("How many ferries does the harbour line run?", [
        Cand("The harbour line runs 12 ferries.", rec("d1")),
        Cand("The harbour line runs Talbot ferries.", rec("d2")),
    ])
    assert counted[0]["sent_fit"] == 1.0 and counted[1]["sent_fit"] == 0.0


def test_rare_question_words_weigh_more() -> None:
    q = "storm harbour"
    common = [Cand(f"The storm passed {i}.", rec(f"d{i}")) for i in range(4)]
    f = feats(q, [Cand("The harbour closed.", rec("h"))] + common)
    assert f[0]["cover"] == f[1]["cover"] == pytest.approx(0.5)
    assert f[0]["cover_idf"] > f[1]["cover_idf"]


def test_time_relative_to_the_question_date() -> None:
    cands = [
        Cand("a", rec("d1", day=date(2025, 6, 18))),
        Cand("b", rec("d2", day=date(2025, 5, 20))),
        Cand("c", rec("d3", day=None)),
        Cand("d", rec("d4", day=date(2025, 6, 1), events=(date(2025, 6, 16), date(2025, 6, 19)))),
    ]
    f = feats("What did the council decide this week?", cands)
    assert f[0]["age"] == pytest.approx(math.log1p(2)) and f[0]["age_rel"] == 0.0
    assert f[1]["age"] == pytest.approx(math.log1p(31)) and f[1]["age_rel"] == pytest.approx(math.log1p(29))
    assert f[2]["undated"] == 1.0 and f[2]["age"] == -1.0 and f[0]["undated"] == 0.0
    # "this week" = 16–22 June: published inside, or reporting events inside
    assert [r["has_window"] for r in f] == [1.0] * 4
    assert [r["in_window"] for r in f] == [1.0, 0.0, 0.0, 1.0]
    assert f[3]["event_last"] == pytest.approx(math.log1p(1)) and f[3]["event_first"] == pytest.approx(math.log1p(4))
    assert f[0]["event_last"] == NO_EVENT


def test_future_events_count_negative_and_question_intent_flags() -> None:
    cands = [Cand("a", rec("d1", day=date(2025, 6, 10), events=(date(2025, 7, 1), date(2025, 7, 1))))]
    f = feats("When is the latest summit?", cands)[0]
    assert f["event_last"] == pytest.approx(-math.log1p(11))
    assert f["recency_q"] == 1.0 and f["asks_when"] == 1.0 and f["has_window"] == 0.0 and f["in_window"] == 0.0
    g = feats("Who won the final?", cands)[0]
    assert g["recency_q"] == 0.0 and g["asks_when"] == 0.0 and g["q_who"] == 1.0 and g["q_number"] == 0.0
    assert feats("How many people attended?", cands)[0]["q_number"] == 1.0


def test_article_aggregates_and_place_in_the_article() -> None:
    cands = [
        Cand("a", rec("d1", index=0), similarity=0.7),
        Cand("b", rec("d2", index=4), similarity=0.6),
        Cand("c", rec("d1", index=2), similarity=0.4),
        Cand("d", rec("d1", index=3), similarity=0.3),
    ]
    f = feats("anything", cands)
    assert f[0]["doc_hits"] == pytest.approx(math.log1p(2)) and f[1]["doc_hits"] == 0.0
    assert f[2]["doc_rank"] == pytest.approx(1.0) and f[1]["doc_rank"] == pytest.approx(math.log2(3))
    assert f[0]["doc_gap"] == 0.0 and f[3]["doc_gap"] == pytest.approx(0.4)
    assert f[0]["first_chunk"] == 1.0 and f[2]["first_chunk"] == 0.0
    assert f[1]["chunk_index"] == pytest.approx(math.log1p(4))


def test_agreement_counts_other_articles_naming_the_same_thing() -> None:
    q = "Who won the darts world championship?"
    cands = [
        Cand("Humphries beat Littler in the final.", rec("d1")),
        Cand("The title went to Humphries.", rec("d2")),
        Cand("Humphries lifted the trophy.", rec("d3")),
        Cand("Crowds watched at Alexandra Palace.", rec("d4")),
        Cand("Tickets sold out quickly.", rec("d5")),
        Cand("Rain fell on the city.", rec("d6")),
        Cand("Prices rose again.", rec("d7")),
    ]
    f = feats(q, cands)
    assert f[0]["agree_max"] == 2.0  # two other articles name Humphries
    assert f[3]["agree_max"] == 0.0
    assert f[0]["agree_mean3"] == pytest.approx(2 / 3)
    # a name in most of the pool's articles is no agreement about an answer
    everywhere = [Cand(f"Reuters reported item {i}.", rec(f"e{i}")) for i in range(4)]
    g = feats(q, everywhere + [Cand("Other text.", rec("z"))])
    assert g[0]["agree_max"] == 0.0


def test_answer_shape_and_length() -> None:
    cands = [
        Cand("Turnout was 62 percent, up from 58 in 2019.", rec("d1")),
        Cand("the quiet village waited for news", rec("d2")),
        Cand("Mayor Anna Berg met Governor Lutz.", rec("d3")),
    ]
    f = feats("How many voted?", cands)
    assert f[0]["numbers"] > 0 and f[1]["numbers"] == 0.0
    assert f[2]["names"] > f[1]["names"] == 0.0
    assert f[0]["length"] == pytest.approx(math.log(len(cands[0].text)))
    assert f[0]["q_terms"] == pytest.approx(math.log1p(2))  # "many", "voted" ("how" is a stop word)
