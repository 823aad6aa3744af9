from qa.conversation import Turn, is_follow_up, names_in, rewrite_deterministic


def test_names_in_questions():
    assert names_in("When did Putin and Netanyahu last speak?") == "Putin and Netanyahu"
    assert names_in("When did Putin and Netanyahu last speak before Saturday 15 November 2025?") == "Putin and Netanyahu"
    assert names_in("What did the central bank decide?") == ""


def test_follow_up_detection():
    assert is_follow_up("And before that?")
    assert is_follow_up("What did they discuss?")
    assert not is_follow_up("When did Varga and Hale last speak?")


HISTORY = [Turn("When did Putin and Netanyahu last speak?", "When did Putin and Netanyahu last speak?",
                "...", True, "2025-11-15", "Saturday 15 November 2025")]


def test_before_that_carries_the_previous_answer_date():
    assert rewrite_deterministic("And before that?", HISTORY) == (
        "When did Putin and Netanyahu last speak before Saturday 15 November 2025?"
    )
    second = [*HISTORY, Turn("And before that?", "When did Putin and Netanyahu last speak before Saturday 15 November 2025?",
                             "...", True, "2025-10-01", "October 2025")]
    assert rewrite_deterministic("And before that?", second) == "When did Putin and Netanyahu last speak before October 2025?"


def test_pronouns_take_the_previous_names_and_date():
    assert rewrite_deterministic("What did they discuss?", HISTORY) == (
        "What did Putin and Netanyahu discuss on Saturday 15 November 2025?"
    )


def test_standalone_questions_pass_through():
    q = "Who won the national cup?"
    assert rewrite_deterministic(q, HISTORY) == q
    assert rewrite_deterministic("And before that?", []) == "And before that?"


def _answer(question: str, text: str, quote: str, published):
    from qa.types import Answer, Citation

    cite = Citation(1, quote, quote, "doc", "A title [x]", "https://a.example/x", "Wire", published, 0, len(quote))
    return Answer(question, text, True, (cite,), {"as_of": "2025-03-10"})


def test_the_date_an_answer_is_about_is_the_same_read_back_from_its_reply():
    """/v1 knows an earlier answer only as the reply text a client sends back: read back, it is
    about the same date (one rule, qa.temporal.answer_event) and has the same words."""
    from dataclasses import replace
    from datetime import date

    from qa.server.markdown import markdown_answer, read_answer, sources_markdown
    from qa.temporal import answer_event

    cases = [  # (question, its answer's first quote, published, the date it is about)
        ("When did Varga and Hale last speak?", "They spoke on Monday and again on Saturday.", date(2025, 3, 8), "Saturday 8 March 2025"),
        ("What did the council decide?", "The council met on Monday and voted on Tuesday.", date(2025, 3, 6), "Monday 3 March 2025"),
        ("When did Varga and Hale last speak before Saturday 8 March 2025?", "They spoke on Saturday, after talks in February.",
         date(2025, 3, 8), "February 2025"),
        ("What reopened?", "The museum reopened its east wing.", date(2025, 3, 5), "Wednesday 5 March 2025"),
    ]
    for question, quote, published, label in cases:
        answer = _answer(question, f"Varga *said* [the] \\ dam: {quote} [1]: yes [1]", quote, published)
        reply = markdown_answer(answer.answer) + sources_markdown(answer)
        back = replace(read_answer(reply, date(2025, 3, 10)), question=question)
        assert back.answer == answer.answer
        assert answer_event(back) == answer_event(answer) and answer_event(answer).label == label, question
    # a client's own wording, without a sources list: the absolute dates of its lead count
    text_only = replace(read_answer("On Saturday 8 March 2025 [1]: they spoke.", date(2025, 3, 10)), question=cases[0][0])
    assert answer_event(text_only).label == "Saturday 8 March 2025"
