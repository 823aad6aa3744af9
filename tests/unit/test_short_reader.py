"""The short-answer reader on hand-made passages, with the real spaCy pipeline (qa.answer.short,
qa.answer.spans, qa.answer.lead)."""

from __future__ import annotations

from datetime import date

from qa.answer.extractive import NOT_FOUND
from qa.answer.lead import NOT_CONFIDENT, NOT_SHORT, with_short_answer
from qa.answer.qtype import question_type
from qa.answer.short import read, rerank, winner
from qa.answer.spans import Analyzer, pattern_spans
from qa.settings import Settings
from qa.temporal import question_time
from qa.types import Answer, ChunkRecord, Citation, Passage

AS_OF = date(2025, 6, 20)


def passage(doc: str, text: str, *, day: date = date(2025, 6, 18), offset: int = 0, score: float = 1.0) -> Passage:
    rec = ChunkRecord(doc, 0, offset, offset + len(text), title=f"Story {doc}", published_at=day,
                      published_day=day.toordinal())
    return Passage(f"{doc}-0", text, rec, score, 0.6)


VOTES = Settings(short_answer_judge=False)  # the reader's own rules (the judge: test_short_judge.py)


def reading(question: str, passages: list[Passage], analyzer: Analyzer, **settings):
    """The reader's votes alone, unless a test turns the judge on."""
    return read(question, passages, question_time(question, AS_OF),
                Settings(**{"short_answer_judge": False, **settings}), analyzer)


def test_the_entity_the_question_names_never_wins_however_often_it_appears(analyzer):
    q = "Which club did striker Marta Quist join this week?"
    passages = [
        passage("a", "Marta Quist has joined Harbour City FC on a three-year deal. Marta Quist scored 31 goals "
                     "last season, and Marta Quist said she was delighted."),
        passage("b", "Marta Quist was photographed at the airport. Fans of Marta Quist gathered outside."),
        passage("c", "The transfer of Marta Quist to Harbour City FC was confirmed by the league on Tuesday."),
    ]
    r = reading(q, passages, analyzer)
    keys = [c.key for c in r.candidates]
    assert "marta quist" not in keys
    # the club wins; its forms share their votes (tiling "shorter"), so the core may lead
    assert r.candidates[0].key in ("harbour city fc", "harbour city")


def test_a_name_inside_a_hyphenated_modifier_is_no_candidate(analyzer):
    """"a Varga-backed rival", "a pro-Hale group": the name only describes something else, so it
    answers no "which …?" (a "Trump-backed" candidate had won "… at which university?" over the
    university the sentence names)."""
    sentence = ("Former senator Ines Roald is joining the Harbour University's Center for Politics "
                "after her defeat by a Varga-backed rival and a pro-Hale group last year.")
    [spans] = analyzer.analyse([sentence])
    texts = {sentence[s.start:s.end] for s in spans}
    assert "Varga" not in texts and "Hale" not in texts
    assert any("Harbour University" in t for t in texts)


def test_votes_from_independent_articles_beat_one_article(analyzer):
    q = "Which country will host the 2031 games?"
    passages = [
        passage("a", "Officials said Norland will host the 2031 games after a vote in Geneva.", score=1.0),
        passage("b", "Norland will host the 2031 games, the committee announced.", score=0.9),
        passage("c", "Westmark had hoped it would host the 2031 games.", score=0.95),
    ]
    assert reading(q, passages, analyzer).candidates[0].key == "norland"


def test_a_number_question_gets_a_number_not_a_name(analyzer):
    q = "How many engineers were detained in Norland?"
    passages = [passage("a", "Westmark said three engineers were detained in Norland by border police in January.")]
    r = reading(q, passages, analyzer)
    assert r.qtype.kind == "number"
    assert r.candidates[0].key == "three"


def test_a_number_question_that_names_the_unit_gets_the_bare_number(analyzer):
    q = "After how many years on the run was the fugitive arrested?"
    passages = [passage("a", "The fugitive was arrested at a clinic on Monday after 30 years on the run, police said.")]
    best = winner(reading(q, passages, analyzer), 0.0)
    assert best is not None and best.text == "30"


def test_the_winners_span_is_exact_in_the_article(analyzer):
    q = "Which company bought the river ferry line?"
    text = "The council confirmed the sale on Friday. Blue Anchor Lines bought the river ferry line for £4m."
    p = passage("a", text, offset=120)  # the chunk starts 120 characters into its article
    best = winner(reading(q, [p], analyzer), 0.0)
    assert best is not None and best.text == "Blue Anchor Lines"
    assert p.text[best.start - p.start : best.end - p.start] == "Blue Anchor Lines"
    s, e = best.sentence
    assert s <= best.start < best.end <= e and p.text[s - p.start : e - p.start].startswith("Blue Anchor Lines")


def test_a_sentence_with_the_question_words_counts_more_than_a_passing_mention(analyzer):
    q = "Which city will open the new tram line?"
    passages = [
        passage("a", "Riverside will open the new tram line in May, the mayor said. Officials from Eastport "
                     "and Lakeside attended a dinner."),
    ]
    assert reading(q, passages, analyzer).candidates[0].key == "riverside"


def test_patterns_find_numbers_amounts_and_ordinals():
    s = "He signed a $255 million deal, won his 23rd title and 38% of fans cheered on Saturday."
    spans = {s[x.start : x.end]: x.label for x in pattern_spans(s, date(2025, 6, 18))}
    assert spans["$255 million"] == "MONEY"
    assert spans["23"] == "CARDINAL"  # "23rd" counts as the number 23
    assert spans["38%"] == "PERCENT"
    dated = [x for x in pattern_spans(s, date(2025, 6, 18)) if x.label == "DATE"]
    assert [s[x.start : x.end] for x in dated] == ["Saturday"] and dated[0].head == "14 June 2025"


def test_rerank_moves_the_passages_holding_the_answer_up(analyzer):
    q = "Which club did striker Marta Quist join?"
    passages = [
        passage("x", "Marta Quist trained alone on Monday."),
        passage("y", "Marta Quist joined Harbour City FC on Tuesday."),
    ]
    best = winner(reading(q, passages, analyzer), 0.0)
    assert [p.doc_id for p in rerank(passages, best)] == ["y", "x"]
    assert rerank(passages, None) == passages


def _extractive(question: str, passages: list[Passage]) -> Answer:
    """An extractive-style answer quoting each passage's first sentence (as answer.extractive does)."""
    cites, parts = [], []
    for n, p in enumerate(passages, 1):
        end = p.text.index(".") + 1
        cites.append(Citation(n, p.text[:end], p.text, p.doc_id, p.title, p.url, p.source, p.published_at,
                              p.start, p.start + end))
        parts.append(f"{p.text[:end]} [{n}]")
    return Answer(question, " ".join(parts), True, tuple(cites), {"as_of": AS_OF.isoformat()})


def test_the_answer_leads_with_the_short_answer_and_cites_the_sentence_that_says_it(analyzer):
    q = "Which club did striker Marta Quist join this week?"
    passages = [
        passage("x", "Marta Quist trained alone on Monday. Her agent declined to comment."),
        passage("y", "The league confirmed the move on Tuesday. Marta Quist joined Harbour City FC on a three-year deal."),
    ]
    ans = with_short_answer(_extractive(q, passages), q, passages, question_time(q, AS_OF), VOTES, analyzer)
    short = ans.short_answer
    assert short is not None and short.text == "Harbour City FC" and short.n == 1
    first = ans.citations[0]
    assert first.start <= short.start < short.end <= first.end
    assert first.quote[short.start - first.start : short.end - first.start] == "Harbour City FC"
    assert ans.answer.startswith("Harbour City FC (on Tuesday ") or ans.answer.startswith("Harbour City FC (reported ")
    assert "[1]: Marta Quist joined Harbour City FC" in ans.answer
    # the sentence that says it was not quoted: it comes first, the others are renumbered after it
    assert [c.n for c in ans.citations] == [1, 2, 3] and [c.doc_id for c in ans.citations] == ["y", "x", "y"]
    assert "[2]" in ans.answer and "[3]" in ans.answer


def test_below_the_threshold_there_is_no_short_answer_and_the_sentences_stand(analyzer):
    q = "Which club did striker Marta Quist join this week?"
    passages = [passage("y", "Marta Quist joined Harbour City FC on a three-year deal. Rivals Vale Rovers and Port Athletic had bid.")]
    before = _extractive(q, passages)
    ans = with_short_answer(before, q, passages, question_time(q, AS_OF), Settings(short_answer_threshold=1.0), analyzer)
    assert ans.short_answer is None and ans.extra["short_answer_reason"] == NOT_CONFIDENT
    assert ans.answer == before.answer and ans.citations == before.citations


def test_below_the_threshold_the_sentence_holding_the_likeliest_answer_is_quoted(analyzer):
    """Not confident: no short answer, but the sentences that may answer include the one holding
    the best-supported candidate (in place of the last quoted one; citation 1 and its lead stay)."""
    q = "Which club did striker Marta Quist join this week?"
    passages = [
        passage("x", "Marta Quist trained alone on Monday. Harbour City FC later confirmed her three-year deal."),
        passage("y", "Her agent declined to comment. Marta Quist joined Harbour City FC, the league said."),
        passage("z", "The transfer window closes on Friday. Vale Rovers had also asked about Marta Quist."),
    ]
    before = _extractive(q, passages)
    assert "Harbour City FC" not in before.answer
    ans = with_short_answer(before, q, passages, question_time(q, AS_OF), Settings(short_answer_threshold=1.0), analyzer)
    assert ans.short_answer is None and ans.extra["short_answer_reason"] == NOT_CONFIDENT
    assert [c.n for c in ans.citations] == [1, 2, 3]
    assert ans.citations[:2] == before.citations[:2]
    last = ans.citations[2]
    assert "Harbour City FC" in last.quote and last.doc_id in ("x", "y")
    assert last.text[last.start - passages[0].start : last.end - passages[0].start] == last.quote
    assert ans.answer.endswith(f"{last.quote} [3]") and not ans.answer.startswith("Harbour City FC")
    # with one sentence allowed, the best-scored sentence stays the answer
    one = _extractive(q, passages[:1])
    assert with_short_answer(one, q, passages, question_time(q, AS_OF),
                             Settings(short_answer_threshold=1.0, answer_sentences=1), analyzer).answer == one.answer


def test_a_choice_question_gets_no_short_answer(analyzer):
    q = "All of these clubs bid for Marta Quist except:"
    passages = [passage("y", "Harbour City FC, Vale Rovers and Port Athletic bid for Marta Quist.")]
    ans = with_short_answer(_extractive(q, passages), q, passages, question_time(q, AS_OF), Settings(), analyzer)
    assert ans.short_answer is None and ans.extra["short_answer_reason"] == NOT_SHORT
    assert question_type(q).kind == "none"


def test_no_answer_stays_no_answer(analyzer):
    q = "Which club did Marta Quist join?"
    empty = Answer(q, NOT_FOUND, False)
    assert with_short_answer(empty, q, [], question_time(q, AS_OF), Settings(), analyzer) is empty


def test_a_when_answer_keeps_its_dated_lead_and_its_short_answer_is_that_date(analyzer):
    q = "When did Varga and Hale last speak?"
    text = "President Varga and Prime Minister Hale spoke by phone on Saturday, their offices said."
    p = passage("a", text, day=date(2025, 3, 8))
    cite = Citation(1, text, text, "a", p.title, "", "", date(2025, 3, 8), 0, len(text))
    before = Answer(q, f"On Saturday 8 March 2025 [1]: {text} [1]", True, (cite,), {"as_of": "2025-03-10"})
    ans = with_short_answer(before, q, [p], question_time(q, date(2025, 3, 10)), Settings(), analyzer)
    assert ans.answer == before.answer
    assert ans.short_answer is not None and ans.short_answer.text == "8 March 2025"
    assert text[ans.short_answer.start : ans.short_answer.end] == "Saturday"
