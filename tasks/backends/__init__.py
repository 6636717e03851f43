"""Chat and embedding backends (NVIDIA NIM or offline), their prompts, and the global rate limits."""
