"""A research goal's form (whitespace, length), checked without the kernel: the CLI checks it before a warm run."""

from __future__ import annotations


class GoalError(ValueError):
    """The research goal cannot be researched as given."""


def tidy_goal(goal: str, max_chars: int) -> str:
    """The goal with whitespace and control characters normalised, or a GoalError when it is empty or too long."""
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in goal or "").split())
    if not cleaned:
        raise GoalError('the research goal is empty; pass a question such as "How does X affect Y?"')
    if len(cleaned) > max_chars:
        raise GoalError(f"the research goal has {len(cleaned)} characters; keep it under {max_chars}")
    return cleaned
