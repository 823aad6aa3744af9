"""Pieces of the extractive answer that need no index."""

from __future__ import annotations

from datetime import date

from qa.answer.extractive import annotate, candidates, dated_lead
from qa.temporal import question_time
from qa.types import ChunkRecord, Passage

PUB = date(2025, 11, 12)


def passage(text: str, published: date | None = PUB) -> Passage:
    return Passage("c1", text, ChunkRecord("d1", 0, 0, len(text), "T", published_at=published), 1.0)


def test_a_possessive_relative_date_keeps_its_word_whole() -> None:
    (c,) = candidates([passage("Thousands of people attended last year's victory parade in Lakeside.")])
    assert annotate(c) == "Thousands of people attended last year's (2024) victory parade in Lakeside."


def test_the_lead_dates_the_news_it_quotes() -> None:
    qtime = question_time("Which automaker recalled SUVs?", date(2025, 11, 13))
    (dated,) = candidates([passage("Castell Auto recalled about 375,000 SUVs on Sunday, the company said.")])
    assert dated_lead(dated, qtime)[0] == "On Sunday 9 November 2025"
    (undated,) = candidates([passage("Castell Auto recalled about 375,000 SUVs, the company said.")])
    assert dated_lead(undated, qtime) == ("Reported Wednesday 12 November 2025", None)
    (background,) = candidates([passage("Castell Auto, founded in 2010, recalled about 375,000 SUVs.")])
    assert dated_lead(background, qtime)[0] == "Reported Wednesday 12 November 2025"
    (nowhen,) = candidates([passage("Castell Auto recalled about 375,000 SUVs, the company said.", None)])
    assert dated_lead(nowhen, qtime) == ("", None)


def test_every_relative_date_is_annotated_the_same_way_for_reader_and_model() -> None:
    """One rule for which dates get their absolute form: those counted from the publication
    date. '3 days ago' and '2 years ago' were left bare because they hold digits; a calendar
    date is left as written, with or without its year (the anchor's year would misdate 'the
    September 11 attacks' or 'Friday, March 3'); the answer and what the LLM is shown agree."""
    from qa.answer.verify import annotate_dates

    cases = {
        "The ferry resumed service 3 days ago, officials said.":
            "The ferry resumed service 3 days ago (Sunday 9 November 2025), officials said.",
        "The port reopened 2 years ago.": "The port reopened 2 years ago (2023).",
        "The ferry resumed on March 3, 2025 and again last week.":
            "The ferry resumed on March 3, 2025 and again last week (3 November – Sunday 9 November 2025).",
        "Victims of the September 11 attacks were remembered on Friday, March 3 and on March 3-5.":
            "Victims of the September 11 attacks were remembered on Friday, March 3 and on March 3-5.",
    }
    for text, expected in cases.items():
        (c,) = candidates([passage(text)])
        assert annotate(c) == expected
        assert annotate_dates(text, PUB) == expected


def test_a_lead_states_the_most_precise_date_of_its_period() -> None:
    """"its second cut this year" and "on Thursday": a "last" question's lead said "In 2025",
    the latest-ending date, when the sentence says the day; a coarser date of another period
    ("began in 2023") is still its own."""
    from qa.temporal import answer_event
    from qa.types import Answer, Citation

    pub = date(2025, 3, 6)
    text = "The central bank lowered its main rate to 2.75 percent on Thursday, its second cut this year."
    for question in ("When did the central bank last cut rates?", "When did the central bank cut rates?"):
        qtime = question_time(question, date(2025, 3, 10))
        (c,) = candidates([passage(text, pub)])
        assert dated_lead(c, qtime)[0] == "On Thursday 6 March 2025", question
        cite = Citation(1, text, text, "d1", "T", "", "", pub, 0, len(text))
        answer = Answer(question, f"On Thursday 6 March 2025 [1]: {text} [1]", True, (cite,), {"as_of": "2025-03-10"})
        assert answer_event(answer, qtime).label == "Thursday 6 March 2025", question
    other = "Work on the bridge began in 2023 and it opened on Thursday."
    (c,) = candidates([passage(other, pub)])
    assert dated_lead(c, question_time("When did work on the bridge begin?", date(2025, 3, 10)))[0] == "In 2023"


def test_a_when_lead_never_states_the_date_a_comparison_counts_from() -> None:
    """"the strongest storm … since Storm Gorm in November 2023" led "In November 2023" for
    "When did the storm hit?": that date is Storm Gorm's, so the sentence is dated by its article."""
    qtime = question_time("When did the storm hit?", date(2025, 11, 13))
    (c,) = candidates([passage("It was the strongest storm to hit the region since Storm Gorm in November 2023.")])
    assert dated_lead(c, qtime) == ("By 12 November 2025 (the article's date)", None)
