"""Fitted models: the LSA embedder and term IDF, MiniLM (dense extra), the entailment head, and their arrays."""
