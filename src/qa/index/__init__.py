"""Storage: the on-disk index and nothing else (no ingest, retrieval ranking or answering).

generations  published snapshots of the index folder, the writer lock, atomic publish
catalog      the SQLite record of documents, aliases, sources, signatures and metadata
chroma       the Chroma collection: the store of record for chunk texts, metadata, vectors
dense        exact dense search over a memory-mapped copy of the vectors
lexical      BM25 search (tantivy)
store        IndexReader / IndexWriter: one generation opened for reading or writing
"""
