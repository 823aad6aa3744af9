"""Reading, cleaning, chunking and indexing articles."""
