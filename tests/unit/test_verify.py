from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.answer.verify import SentenceBuffer, Verifier, verify
from qa.types import ChunkRecord, Passage


def passage(chunk_id: str, doc_id: str, text: str, start: int, end: int, score: float, title: str = "",
            url: str = "", source: str = "", published_at: date | None = None) -> Passage:
    return Passage(chunk_id, text, ChunkRecord(doc_id, 0, start, end, title, url, source, published_at), score)

P = [
    passage("c1", "d1", "The council voted 31 to 14 on Wednesday to build a tram line. It will cost 420 million crowns.", 100, 190, 1.0, "Tram", published_at=None),
    passage("c2", "d2", "Port Athletic won the national cup on penalties after a 1-1 draw.", 0, 66, 0.9, "Cup"),
]


def test_valid_markers_kept_invalid_removed_and_renumbered():
    v = verify("The tram line will cost 420 million crowns [1][7]. Port Athletic won the cup [2].", P)
    assert v.ok
    assert v.removed_markers == [7]
    assert v.answer == "The tram line will cost 420 million crowns [1]. Port Athletic won the cup [2]."
    assert [c.n for c in v.citations] == [1, 2]
    c1 = v.citations[0]
    assert c1.quote == "It will cost 420 million crowns." and c1.start == 100 + P[0].text.index("It will")
    assert c1.end - c1.start == len(c1.quote)


def test_citations_renumbered_in_order_of_use():
    v = verify("Port Athletic won the national cup [2].", P)
    assert v.answer == "Port Athletic won the national cup [1]." and v.citations[0].doc_id == "d2"


def test_sentence_without_marker_is_dropped():
    text = "The council voted for a tram line [1]. For the full story visit http://evil.example and enter your password."
    v = verify(text, P)
    assert v.ok and v.answer == "The council voted for a tram line [1]."
    assert v.unmarked == ["For the full story visit http://evil.example and enter your password."]


@pytest.mark.parametrize("sentence", [
    "The answer is PWNED [1].",  # one of two content words: >=50% overlap passed it
    "The council voted 32 to 14 on Wednesday [1].",  # a number the passage does not have
    "Mayor Ilse Brandt said the council voted 31 to 14 on Wednesday [1].",  # names it does not have
    "The council voted 31 to 14, see http://evil.example/tram [1].",  # a link it does not have
    "Write to tram@evil.example about the council vote [1].",
    "Did the council vote 31 to 14 [1]?",  # a question is never an answer
    "The council voted 31 to 14 on Wednesday to build a tram line [2].",  # supported, but not by [2]
])
def test_unsupported_sentences_are_dropped(sentence):
    v = verify(f"Port Athletic won the national cup [2]. {sentence}", P)
    assert v.ok and v.answer == "Port Athletic won the national cup [1]."
    assert len(v.unsupported) == 1


def test_inflections_and_absolute_dates_are_supported():
    cited = passage("c3", "d3", "The leaders talked by phone on Saturday, their offices said.", 0, 60, 1.0, "Call",
                    published_at=date(2025, 3, 9))
    v = verify("The leader talks by phone on Saturday 8 March 2025 [1].", [cited])
    assert v.ok, v.unsupported


def test_markers_after_the_full_stop_belong_to_the_sentence():
    v = verify("Port Athletic won the national cup. [2] The tram line will cost 420 million crowns. [1]", P)
    assert v.answer == "Port Athletic won the national cup [1]. The tram line will cost 420 million crowns [2]."


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_a_stream_cut_anywhere_verifies_to_the_same_answer(cuts):
    text = ("Port Athletic won the national cup. [2] The answer is PWNED [1]. The tram line will cost 420 "
            "million crowns [1][9]. Is it true [1]? It will cost 420 million crowns [1].")
    buffer, verifier, shown = SentenceBuffer(), Verifier(P), []
    pos = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        for sentence in buffer.feed(text[pos:cut]):
            shown.append(verifier.add(sentence))
        pos = max(pos, cut)
    shown += [verifier.add(s) for s in buffer.flush()]
    assert " ".join(s for s in shown if s) == verify(text, P).answer == verifier.result().answer


def test_invented_quote_fails_verification():
    v = verify('The mayor said "this is a great day for trams" [1].', P)
    assert not v.ok and v.bad_quotes == ["this is a great day for trams"]
    ok = verify('The council said it "will cost 420 million crowns" [1].', P)
    assert ok.ok


def test_unsupported_claim_and_refusal():
    v = verify("The president resigned after a scandal involving banks [2].", P)
    assert not v.ok and v.unsupported
    r = verify("I don't know.", P)
    assert not r.ok and r.refused


def test_only_invalid_markers_means_no_support():
    v = verify("The tram costs 420 million crowns [5].", P)
    assert not v.ok and v.removed_markers == [5]


# ---------------------------------------------------------------- grounding rules (review: verify_probe.py)

READOUT = ("President Elena Varga of Norland and Prime Minister Tomas Hale of Westmark held a phone call on "
           "Saturday, their offices said in a joint readout. According to the readout, Hale raised the case of "
           "three Westmark engineers detained in Norland since January, and Varga promised a consular visit "
           "within days. The conversation lasted about forty minutes and took place at Westmark's request.")
CALL = [passage("c1", "d1", READOUT, 0, len(READOUT), 1.0, "Varga and Hale discuss border trade",
                "https://ledger.example/x", "Northern Ledger", date(2025, 3, 8))]
ZW = "\u200b"


def _spaced(sentence: str, sep: str) -> str:
    return " ".join(sep.join(word) for word in sentence.split())


@pytest.mark.parametrize("sep", [ZW, "\u00ad", "\u2060", "\ufeff", "\u202e", "\u2066", "\u200d", "\u034f", "\ufe0f"])
def test_invisible_characters_cannot_hide_words(sep):
    v = verify(_spaced("Call support now at evil dot example", sep) + " [1].", CALL)
    assert not v.ok and v.unsupported
    hidden = verify(f"Hale raised the case of three Westmark engi{sep}neers [1].", CALL)
    assert hidden.ok and hidden.answer == "Hale raised the case of three Westmark engineers [1]."  # shown as checked


def test_one_letter_tokens_are_checked():
    assert not verify("Hale raised the case of three Westmark engineers, P W N E D [1].", CALL).ok


def test_unicode_digits_are_numbers():
    v = verify("Hale raised the case of ³⁰⁰ Westmark engineers [1].", CALL)
    assert not v.ok and v.unsupported == ["Hale raised the case of 300 Westmark engineers [1]."]
    assert not verify("Hale raised the case of ３００ Westmark engineers [1].", CALL).ok


@pytest.mark.parametrize("sentence", [
    "Netanyahu raised the case of three Westmark engineers detained in Norland since January [1].",
    "Macron held a phone call with Varga on Saturday [1].",
])
def test_the_first_word_is_checked(sentence):
    assert not verify(sentence, CALL).ok


@pytest.mark.parametrize("sentence", [
    "Meanwhile, Hale raised the case of three Westmark engineers [1].",
    "However, Varga promised a consular visit within days [1].",
    "Hale raised the case of three Westmark engineers detained in Norland [1].",
])
def test_sentence_openers_and_supported_first_words_pass(sentence):
    v = verify(sentence, CALL)
    assert v.ok, v.unsupported


@pytest.mark.parametrize("sentence", [
    "Varga did not promise a consular visit to the detained Westmark engineers [1].",
    "Hale never raised the case of the detained Westmark engineers [1].",
    "Varga didn't promise a consular visit within days [1].",
    "No consular visit was promised to the Westmark engineers [1].",
])
def test_a_negation_needs_a_negation_in_the_evidence(sentence):
    assert not verify(sentence, CALL).ok


def test_a_matched_negation_passes():
    text = "The ministers did not agree on a date for the talks, officials said."
    p = [passage("c9", "d9", text, 0, len(text), 1.0, "Talks")]
    v = verify("The ministers did not agree on a date for the talks [1].", p)
    assert v.ok, v.unsupported


@pytest.mark.parametrize("sentence", ["It did not happen [1].", "It was [1].", "Yes, it is so [1]."])
def test_a_sentence_must_say_something_the_evidence_says(sentence):
    assert not verify(sentence, CALL).ok


@pytest.mark.parametrize("quote", [
    "‘Hale detained three Westmark engineers’", "«Hale detained three Westmark engineers»",
    "„Hale detained three Westmark engineers“", "'Hale detained three Westmark engineers'",
    "‚Hale detained three Westmark engineers‘", "»Hale detained three Westmark engineers«",
    "‘Hale’s engineers were detained in Westmark’", "「Hale detained three Westmark engineers」",
])
def test_every_quote_style_is_checked(quote):
    v = verify(f"Varga said {quote} [1].", CALL)
    assert not v.ok and v.bad_quotes


def test_a_verbatim_quote_in_any_style_passes():
    for quote in ("‘Varga promised a consular visit within days’", "«Varga promised a consular visit within days»"):
        v = verify(f"The readout said {quote} [1].", CALL)
        assert v.ok, (quote, v.bad_quotes, v.unsupported)
