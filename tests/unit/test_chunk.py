from qa.ingest.chunk import chunk_article, chunk_spans
from qa.sentences import sentence_spans
from qa.types import Article

TEXT = " ".join(f"Sentence number {i} says something about topic {i % 7} in plain words." for i in range(60))


def test_chunks_align_to_sentences_and_offsets_are_exact():
    art = Article(doc_id="d1", text=TEXT)
    chunks = chunk_article(art, target_chars=300, overlap_sentences=1)
    starts = {s for s, _ in sentence_spans(TEXT)}
    ends = {e for _, e in sentence_spans(TEXT)}
    assert len(chunks) > 5
    for c in chunks:
        assert TEXT[c.start : c.end] == c.text
        assert c.start in starts and c.end in ends
        assert len(c.text) <= 300
    assert chunks[-1].end == len(TEXT)


def test_neighbours_overlap_by_one_sentence_and_cover_everything():
    spans = chunk_spans(TEXT, target_chars=300, overlap_sentences=1)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s2 < e1  # overlap
        assert s2 > s1  # progress
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    for s, e in sentence_spans(TEXT):
        assert s in covered and e - 1 in covered


def test_a_sentence_longer_than_the_target_is_its_own_chunk():
    long = "Word " + "word " * 200 + "end."
    text = f"Short one. {long} Short two."
    spans = chunk_spans(text, target_chars=100, overlap_sentences=0)
    assert [text[s:e] for s, e in spans] == ["Short one.", long.strip(), "Short two."]


def test_chunk_ids_are_stable_per_document():
    a = chunk_article(Article(doc_id="x", text=TEXT), target_chars=300)
    b = chunk_article(Article(doc_id="x", text=TEXT), target_chars=300)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
