import re

from qa.ingest.clean import clean_text
from qa.sentences import split_sentences
from conftest import SAMPLES

SIDEBAR = ["Hugh Jackman", "Matthew Perry", "Grand Egyptian Museum", "LATEST POSTS", "Gush Etzion", "Sound blocking"]


def _body_sentences(raw: str) -> list[str]:
    body = raw.split("LATEST POSTS")[0]
    return [s for s in split_sentences(body) if re.search(r"[.!?][\"'”’]?$", s)]


def test_seed_page_loses_sidebar_and_keeps_every_body_sentence(seed_path):
    raw = seed_path.read_text()
    cleaned = clean_text(raw)
    for junk in SIDEBAR:
        assert junk not in cleaned
    sentences = _body_sentences(raw)
    assert len(sentences) >= 10
    for s in sentences:
        assert s in cleaned, s


def test_sample_markdown_sidebar_removed_and_body_kept():
    raw = (SAMPLES / "norland-westmark-call.md").read_text()
    cleaned = clean_text(raw.split("---", 2)[2])
    assert "LATEST POSTS" not in cleaned
    assert "houseplants" not in cleaned and "Pop star" not in cleaned
    assert "held a phone call on Saturday" in cleaned
    assert cleaned.rstrip().endswith("statistics office.")


def test_related_block_in_the_middle_is_removed_but_the_article_goes_on():
    raw = (
        "The mayor opened the new bridge on Tuesday after three years of work.\n\n"
        "Related\nFerry fares rise again\nNew bike lanes divide residents\n\n"
        "Traffic on the old crossing is expected to fall by a third, officials said.\n"
    )
    cleaned = clean_text(raw)
    assert "Related" not in cleaned and "Ferry fares" not in cleaned
    assert "Traffic on the old crossing" in cleaned and "opened the new bridge" in cleaned


def test_cookie_subscribe_and_blank_runs():
    raw = "We use cookies. Accept all cookies?\n\n\n\nThe vote passed 31 to 14 on Wednesday.\n\n\n\nSubscribe to our newsletter\nIt will cost 420 million crowns.\n"
    cleaned = clean_text(raw)
    assert "cookies" not in cleaned and "Subscribe" not in cleaned
    assert "\n\n\n" not in cleaned
    assert cleaned == "The vote passed 31 to 14 on Wednesday.\n\nIt will cost 420 million crowns."


def test_headline_runs_without_marker_are_removed():
    raw = (
        "Officials confirmed the budget on Monday, ending a month of talks between the parties.\n"
        "Harbor city unveils plan for floating solar farm\n"
        "Ten recipes for a quick weeknight supper\n"
        "Veteran goalkeeper signs one-year extension\n"
        "Why your houseplants hate the radiator\n"
    )
    assert clean_text(raw) == "Officials confirmed the budget on Monday, ending a month of talks between the parties."


def test_hard_wrapped_prose_is_joined_not_dropped():
    raw = (
        "The council voted on Wednesday night to build a tram line along the\n"
        "river, ending two years of debate over the route and the cost of\n"
        "the works, which opponents said was too high for a city of this\n"
        "size.\n"
    )
    cleaned = clean_text(raw)
    assert cleaned.startswith("The council voted") and cleaned.endswith("this size.")
    assert "\n" not in cleaned


def test_short_body_lines_that_are_sentences_survive():
    raw = "The Kremlin called it constructive.\nThe talks lasted an hour.\nBoth sides will meet again.\nNo date was set.\n"
    assert clean_text(raw).count("\n") == 3
