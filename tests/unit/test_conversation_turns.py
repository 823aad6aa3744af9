"""The conversation rule on 51 hand-written turns (tests/helpers/conversation_turns.py):
follow-ups keep the names and date they refer back to, "what about X?" keeps the frame with X,
a new topic starts fresh. Run with -s to see every rewrite; the LLM condense step is measured on
the same turns in tests/e2e/test_conversation_llm.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))

from conversation_turns import CONVERSATIONS, judge, turns  # noqa: E402

from qa.conversation import Turn, rewrite  # noqa: E402

PASS_FLOOR = 50  # of 51: what the deterministic rule passes today; a change may only raise it


def replay_conversation(conversation, rewrite_turn) -> list[tuple[str, str | None]]:
    """(rewritten, problem) per turn; the history holds what the rule made of earlier turns."""
    history: list[Turn] = []
    out = []
    for i, (_, says, _, answer, (event_date, label)) in enumerate(conversation):
        standalone, frame = rewrite_turn(says, history)
        out.append((standalone, judge(conversation, i, standalone)))
        history.append(Turn(says, standalone, answer, True, event_date, label, frame=frame))
    return out


def test_there_are_at_least_40_turns_of_every_kind():
    kinds = [conv[t][0] for c, t in turns() for conv in [CONVERSATIONS[c]]]
    assert len(kinds) >= 40
    for kind in ("pronoun", "reference", "what-about", "narrow", "time-shift", "new-topic"):
        assert kinds.count(kind) >= 3 or kind in ("what-about", "narrow") and kinds.count(kind) >= 2, kind


def test_deterministic_rewrite_passes_the_turns():
    passed, failures = 0, []
    for c, conversation in enumerate(CONVERSATIONS):
        for i, (standalone, problem) in enumerate(replay_conversation(conversation, rewrite)):
            print(f"{'ok ' if problem is None else 'BAD'} {conversation[i][1]!r} -> {standalone!r}")
            if problem is None:
                passed += 1
            else:
                failures.append(f"{c}.{i} {conversation[i][1]!r} -> {standalone!r}: {problem}")
    print(f"deterministic rewrite: {passed}/{len(turns())} turns pass")
    assert passed >= PASS_FLOOR, "\n".join(failures)


def test_the_issue_conversation():
    """The conversation of issue 15, word for word."""
    history: list[Turn] = []

    def say(text: str, answer: str, when: tuple[str, str] | tuple[None, None]) -> str:
        standalone, frame = rewrite(text, history)
        history.append(Turn(text, standalone, answer, True, when[0], when[1], frame=frame))
        return standalone

    say("When did Putin and Netanyahu last speak?", "On Saturday 15 November 2025 [1]: Russian President Vladimir "
        "Putin and Prime Minister Benjamin Netanyahu discussed developments in the Middle East in a phone call on "
        "Saturday (15 November 2025), the Prime Minister's Office and the Kremlin said in a joint statement. [1]",
        ("2025-11-15", "Saturday 15 November 2025"))
    call = say("Who asked for the call?", "At the Russian leader's request. [1]", ("2025-11-15", "Saturday 15 November 2025"))
    assert "Putin" in call and "Netanyahu" in call and "15 November 2025" in call
    other = say("What about Varga and Hale?", "At Westmark's request. [1]", ("2025-03-08", "Saturday 8 March 2025"))
    assert "Varga" in other and "Hale" in other and "call" in other
    assert "Putin" not in other and "November" not in other
    fresh = say("How many homes lost power in Storm Ilse?", "About 80,000 homes. [1]", ("2025-03-01", "Saturday 1 March 2025"))
    assert fresh == "How many homes lost power in Storm Ilse?"  # a new topic: no date inherited


def test_a_pronoun_after_who_is_the_answer_not_its_dated_lead():
    """"they" after a "who" question is whom the answer names, never a word of its lead."""
    asked = Turn("Who won the cup?", "Who won the cup?", "Reported Monday 3 March 2025 [1]: Harbour City won the cup. [1]",
                 True, "2025-03-03", "Monday 3 March 2025")
    standalone, _ = rewrite("And who did they beat?", [asked])
    assert standalone.startswith("Who did Harbour City beat")



def test_what_about_other_names_replaces_the_names_of_a_question_about_a_thing():
    """"What about Varga and Hale?" after "What did Putin and Netanyahu say about the dam?" asks
    the same of the other pair; only a thing ("what about the crossing?") replaces the topic."""
    asked = Turn("What did Putin and Netanyahu say about the dam?", "What did Putin and Netanyahu say about the dam?",
                 "They discussed water releases from the dam. [1]", True, "2025-11-15", "Saturday 15 November 2025")
    assert rewrite("What about Varga and Hale?", [asked])[0] == "What did Varga and Hale say about the dam?"
    thing, _ = rewrite("What about the crossing?", [asked])
    assert thing.startswith("What did Putin and Netanyahu say about the crossing")


def test_what_about_other_names_replaces_the_names_before_a_named_topic():
    """"What about Varga and Hale?" after "What did Putin and Netanyahu discuss about Syria?" asks
    the same of the other pair: the names to replace are the question's before its "about", not
    the topic's name too (it came back unchanged: "Putin and Netanyahu and Syria" is nowhere in it)."""
    asked = Turn("What did Putin and Netanyahu discuss about Syria?", "What did Putin and Netanyahu discuss about Syria?",
                 "They discussed the ceasefire in Syria. [1]", True, "2025-11-15", "Saturday 15 November 2025")
    assert rewrite("What about Varga and Hale?", [asked])[0] == "What did Varga and Hale discuss about Syria?"
    thing, _ = rewrite("What about the ceasefire?", [asked])
    assert thing.startswith("What did Putin and Netanyahu discuss about the ceasefire")


def test_what_about_a_name_with_a_number_replaces_the_whole_name():
    """"What about Apollo 13?" after "When was Apollo 11 launched?" was asked as "When was Apollo
    13 11 launched?" (and "Euro 2020" after "the Euro 2024 final" as "the Euro 2020 2024 final"):
    the number of a name was not part of the name, so it stayed and piled up turn after turn."""
    cases = [
        (["When was Apollo 11 launched?", "What about Apollo 13?", "And Apollo 17?"],
         ["When was Apollo 11 launched?", "When was Apollo 13 launched?", "When was Apollo 17 launched?"]),
        (["Who won the Euro 2024 final?", "What about Euro 2020?"],
         ["Who won the Euro 2024 final?", "Who won the Euro 2020 final?"]),
        (["Why was the Boeing 737 grounded?", "What about Airbus A320?"],
         ["Why was the Boeing 737 grounded?", "Why was the Airbus A320 grounded?"]),
    ]
    for says, expected in cases:
        history: list[Turn] = []
        for text in says:
            standalone, frame = rewrite(text, history)
            history.append(Turn(text, standalone, "It happened. [1]", True, None, None, frame=frame))
        assert [t.standalone for t in history] == expected


MESSAGE_ENDINGS = {
    "no mark": lambda s: s.rstrip("?"),
    "full stop": lambda s: s.rstrip("?") + ".",
    "?!": lambda s: s.rstrip("?") + "?!",
    "spaced ?": lambda s: s.rstrip("?") + " ?",
    "ellipsis": lambda s: s.rstrip("?") + "…",
    "spaces": lambda s: "  " + s.replace(" ", "   ") + "  ",
}


def test_how_a_message_ends_never_changes_its_standalone_question():
    """A chat message is read as `qa ask` reads a question (``qa.text.as_question``): "and the
    Kessel crossing" typed without its "?" keeps the frame it has with one (it became "The Kessel
    crossing"), "and the storm" after a rate decision still starts another story, "what about in
    June…" still shifts the time. Every hand-written conversation is replayed with each message
    ending otherwise; every standalone question is the one the "?" form gives."""
    def replay(ending):
        history: list[Turn] = []
        out = []
        for _, says, _, answer, (event_date, label) in conversation:
            standalone, frame = rewrite(ending(says), history)
            out.append(standalone)
            history.append(Turn(ending(says), standalone, answer, True, event_date, label, frame=frame))
        return out

    differ = []
    for c, conversation in enumerate(CONVERSATIONS):
        base = replay(lambda s: s)
        for name, ending in MESSAGE_ENDINGS.items():
            for i, (want, got) in enumerate(zip(base, replay(ending))):
                if got != want:
                    differ.append(f"{c}.{i} {name}: {ending(conversation[i][1])!r} -> {got!r}, not {want!r}")
    assert not differ, "\n".join(differ)
