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
