"""Storage: the on-disk index and nothing else (no ingest, retrieval ranking or answering).

generations  published snapshots of the index folder, the writer lock, atomic publish
catalog      the SQLite record of documents, aliases, sources, signatures and metadata
migrations   the ordered upgrades of a generation written by an older qa (applied by the writer)
records      what each chunk carries (ChunkRecord, UNDATED, chunk ids)
filters      which chunks a search may return (SearchFilters), translated by each engine
chroma       the Chroma collection: the store of record for chunk texts, records, vectors
dense        exact dense search over a memory-mapped copy of the vectors, with each chunk's text and
             record (what searches read)
lexical      BM25 search (tantivy)
reader       IndexReader: one published generation opened for reading
writer       IndexWriter: the one writer, building and publishing the next generation
"""
