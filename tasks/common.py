"""What every stage task shares: cache policy and retry policy."""

from __future__ import annotations

from prefect.cache_policies import INPUTS, TASK_SOURCE

from tasks.llm import ModelUnavailable
from tasks.sources import SourceUnavailable

# Cache on inputs + code, never on the run id: a retried or re-run flow reuses finished stages.
STAGE_CACHE = INPUTS + TASK_SOURCE


def retry_transient(task, task_run, state) -> bool:
    """Retry I/O failures except those a retry cannot fix (unreachable source or model, bad input)."""
    try:
        state.result()
    except (SourceUnavailable, ModelUnavailable, ValueError):
        return False
    except Exception:
        return True
    return False
