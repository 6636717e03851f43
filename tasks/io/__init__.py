"""Writing outputs: atomic file and directory swaps, the rendered brief, Parquet tables, BibTeX, the sweep ledger."""
