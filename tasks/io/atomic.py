"""Write-then-rename: a reader sees a file or directory whole or not at all, never half written."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def staging_file(path: Path) -> Path:
    """A hidden name beside `path`, private to this process and thread; the suffix is kept (`np.save` adds .npy)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}-{threading.get_ident()}{path.suffix}")


def staging_directory(target: Path) -> Path:
    """A hidden name beside `target` for this process to build it in (`publish.remove_leftovers` knows the pattern)."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A private path to write; renamed over `path` when the block succeeds, removed when it fails."""
    staging = staging_file(path)
    try:
        yield staging
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` (text as UTF-8) in one rename."""
    with staged_file(path) as staging:
        if isinstance(data, str):
            staging.write_text(data, encoding="utf-8")
        else:
            staging.write_bytes(data)


def swap_directory(staging: Path, final: Path) -> None:
    """Make staging the final directory in one rename; an earlier one is moved aside first, then deleted."""
    if not final.exists():
        os.replace(staging, final)
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A fresh empty directory to build `target` in; swapped in when the block succeeds, removed either way."""
    staging = staging_directory(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        swap_directory(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
