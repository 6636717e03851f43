"""The local corpus index: loading, BM25 and hybrid search, and the text analysis it shares with the stages."""
