"""The expected answer type of a question, from its wh-word and head noun (qa.answer.qtype)."""

from __future__ import annotations

import pytest

from qa.answer.qtype import question_type


@pytest.mark.parametrize(
    ("question", "kind", "head"),
    [
        ("Which country hosted the winter summit?", "place", "country"),
        ("Fans lined the streets of which city this week?", "place", "city"),
        ("Who won the national cup?", "person", ""),
        ("Which singer announced a farewell tour?", "person", "singer"),
        ("Which company recalled its electric scooters?", "organisation", "company"),
        ("Which home goods chain recently said it may close stores?", "organisation", "chain"),
        ("Which country's prime minister resigned on Thursday?", "place", "country"),
        ("Which U.S. state passed the bill?", "place", "state"),
        ("How many engineers were detained?", "number", ""),
        ("The jackpot rose to how much after no winner was drawn?", "quantity", ""),
        ("How much did the museum's new wing cost?", "money", ""),
        ("What percentage of voters backed the plan?", "percent", ""),
        ("After how many years on the run was he caught?", "duration", ""),
        ("How old was the oldest resident?", "duration", ""),
        ("When did the two leaders last speak?", "date", ""),
        ("The old laws will lapse when?", "date", ""),
        ("What song did the president sing at the dinner?", "title", "song"),
        ("Which seed did the regulator add to the allergen list?", "thing", "seed"),
        ("Storms were caused by which kind of severe weather event?", "event", "event"),
        ("Where did the rocket launch from?", "place", ""),
    ],
)
def test_kind_and_head(question: str, kind: str, head: str) -> None:
    t = question_type(question)
    assert (t.kind, t.head) == (kind, head)


@pytest.mark.parametrize(
    "question",
    [
        "All of these teams signed the striker this winter except:",
        "True or false: the bridge reopened on Monday.",
        "Which of these films won the most awards?",
        "Why did the council delay the vote?",
    ],
)
def test_choices_and_reasons_get_no_short_answer(question: str) -> None:
    assert not question_type(question).answerable


def test_labels_follow_the_kind() -> None:
    assert "GPE" in question_type("Which country won?").labels
    assert "PERSON" in question_type("Who won?").labels
    assert "CARDINAL" in question_type("How many won?").labels
    assert question_type("Which seed was added?").labels == frozenset()  # any noun phrase
