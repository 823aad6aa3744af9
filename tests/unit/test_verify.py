from qa.answer.verify import verify
from qa.types import Passage

P = [
    Passage("c1", "d1", "The council voted 31 to 14 on Wednesday to build a tram line. It will cost 420 million crowns.", 100, 190, 1.0, "Tram", published_at=None),
    Passage("c2", "d2", "Port Athletic won the national cup on penalties after a 1-1 draw.", 0, 66, 0.9, "Cup"),
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


def test_sentence_without_marker_is_flagged_or_dropped():
    text = "The council voted for a tram line [1]. Everyone was happy about it."
    flagged = verify(text, P)
    assert flagged.ok and flagged.unmarked == ["Everyone was happy about it."]
    assert "Everyone was happy" in flagged.answer
    dropped = verify(text, P, drop_unmarked=True)
    assert dropped.ok and "Everyone" not in dropped.answer


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
