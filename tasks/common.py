"""What every stage task shares: cache policy and retry policy."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from prefect.cache_policies import INPUTS, CachePolicy

from tasks.backends.llm import ModelUnavailable
from tasks.sources.paper_source import SourceUnavailable

TASKS_DIR = Path(__file__).parent
# Everything a stage's result depends on besides its inputs: the code, its templates and fitted arrays.
CODE_SUFFIXES = (".py", ".j2", ".npy", ".npz")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the project version and every source, template and fitted array under tasks/."""
    digest = hashlib.sha256()
    try:
        digest.update(version("sovereign").encode())
    except PackageNotFoundError:  # run from a checkout that was never installed
        digest.update(b"uninstalled")
    for path in sorted(p for p in TASKS_DIR.rglob("*") if p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts):
        digest.update(path.relative_to(TASKS_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# A helper or tuned constant changed anywhere in tasks/ changes every stage's key, so a result persisted by other
# code is never served as Cached (TASK_SOURCE sees only the decorated function's own body).
CODE_VERSION = CachePolicy.from_cache_key_fn(lambda context, inputs: code_fingerprint())
# Cache on inputs + code, never on the run id: a retried or re-run flow reuses finished stages.
STAGE_CACHE = INPUTS + CODE_VERSION


def retry_transient(task, task_run, state) -> bool:
    """Retry I/O failures except those a retry cannot fix (unreachable source or model, bad input)."""
    try:
        state.result()
    except (SourceUnavailable, ModelUnavailable, ValueError):
        return False
    except Exception:
        return True
    return False
