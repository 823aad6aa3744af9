from qa.sentences import sentence_spans, split_sentences


def test_offsets_are_exact_and_cover_every_sentence():
    text = "Mr. Smith met Dr. J. K. Rowling on Monday. She said “Yes.” Then he left!\nA headline\n\nNext one?  Yes."
    spans = list(sentence_spans(text))
    assert [text[s:e] for s, e in spans] == split_sentences(text)
    assert split_sentences(text) == [
        "Mr. Smith met Dr. J. K. Rowling on Monday.",
        "She said “Yes.”",
        "Then he left!",
        "A headline",
        "Next one?",
        "Yes.",
    ]
    for s, e in spans:
        assert text[s:e] == text[s:e].strip()


def test_abbreviations_and_numbers_do_not_split():
    assert split_sentences("The U.S. Senate voted 52-48 on Jan. 5. It passed.") == [
        "The U.S. Senate voted 52-48 on Jan. 5.",
        "It passed.",
    ]
    assert split_sentences("Rates rose 2.5 percent. Markets fell.") == ["Rates rose 2.5 percent.", "Markets fell."]


def test_lowercase_after_full_stop_is_not_a_boundary():
    assert len(split_sentences("He works at example.com and lives nearby. Fine.")) == 2


def test_question_sentences_are_recognised():
    from qa.sentences import is_question

    assert is_question("When did Varga and Hale last speak?")
    assert is_question('He asked: "When did they last speak?"')
    assert is_question("(Who won?)")
    assert not is_question("They spoke on Saturday.") and not is_question("Why? Nobody said.")
