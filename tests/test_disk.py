"""Disk faults while publishing: a full disk, an unwritable output directory, a SIGKILL mid-publish.

Each leaves either a complete run directory or none: staging happens in a hidden `.<run>.partial-<pid>`
directory renamed into place in one step, and a later publish removes a dead publisher's leftovers.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks import publish
from tasks.io.atomic import staged_file, write_atomic
from tasks.models import Policy
from tasks.publish import STALE_AFTER_SECONDS, PublishError, publish_report, remove_leftovers
from tests.factories import make_embeddings, make_report

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
BRIEF_FILES = {"report.pdf", "report.md", "references.bib", "report.json", "claims.parquet", "papers.parquet"}
WAIT_SECONDS = 60

# Publishes one brief with the PDF renderer stalled: it touches a marker once the other files are staged.
DRIVER = """
import sys, time
from pathlib import Path
from tasks import publish
from tasks.io.atomic import staged_file, write_atomic
from tests.factories import make_embeddings, make_report

out_dir, marker = map(Path, sys.argv[1:])

def stalled(html):
    marker.touch()
    time.sleep(600)

publish.render_pdf = stalled
report = make_report()
publish.publish_report(report, make_embeddings(report), out_dir)
"""


def visible(out_dir: Path) -> list[Path]:
    """What a reader of the output directory sees: everything not hidden."""
    return sorted(p for p in out_dir.iterdir() if not p.name.startswith("."))


def full_disk_on(target: str):
    """A stand-in for a full disk: writing the named file fails with ENOSPC, after the files before it."""

    def refuse(path: Path) -> None:
        if Path(path).name == target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    return refuse


@pytest.mark.parametrize("target", ["report.json", "claims.parquet", "papers.parquet", "report.md", "report.pdf"])
def test_full_disk_mid_publish_is_a_publish_error_and_leaves_nothing(tmp_path, monkeypatch, target):
    check = full_disk_on(target)
    write_text, write_bytes, write_table = Path.write_text, Path.write_bytes, publish.pq.write_table

    def text(self: Path, *args, **kwargs):
        check(self)
        return write_text(self, *args, **kwargs)

    def data(self: Path, *args, **kwargs):
        check(self)
        return write_bytes(self, *args, **kwargs)

    def table(frame, where, *args, **kwargs):
        check(where)
        return write_table(frame, where, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", text)
    monkeypatch.setattr(Path, "write_bytes", data)
    monkeypatch.setattr(publish.pq, "write_table", table)
    report = make_report()
    with pytest.raises(PublishError, match=re.escape(f"cannot write the brief to {tmp_path}: No space left")):
        publish_report(report, make_embeddings(report), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_out_dir_under_a_regular_file_is_one_clear_cli_error(tmp_path, prefect_harness):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    goal = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
    result = CliRunner().invoke(app, ["run", goal, "--corpus", str(FIXTURE), "--out", str(blocker / "runs")])
    assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
    assert "cannot write the brief to" in " ".join(result.output.split()) and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-dir"] and blocker.read_text() == "x"


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_publish_shows_no_half_brief_and_the_next_publish_cleans_up(tmp_path):
    out, marker = tmp_path / "runs", tmp_path / "staged"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), str(marker)], cwd=PROJECT, env=env)
    try:
        wait_for(lambda: marker.exists() or process.poll() is not None, "the publisher to stage its files")
        assert process.poll() is None, "the publisher died before staging"
        (staging,) = out.iterdir()
        assert staging.name == f".{make_report().run_id}.partial-{process.pid}"
        assert {"report.json", "report.md"} <= {p.name for p in staging.iterdir()}
        assert visible(out) == []
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT_SECONDS)  # reaped, so its pid no longer exists
    assert visible(out) == [] and staging.exists(), "killed mid-publish: nothing visible, the staging is left"

    live = out / f".other-run.partial-{os.getppid()}"  # a live publisher's staging is never touched
    live.mkdir()
    old = time.time() - STALE_AFTER_SECONDS - 1
    for leftover in (staging, live):
        os.utime(leftover, (old, old))
    assert remove_leftovers(out, now=time.time() - STALE_AFTER_SECONDS) == [], "too recent to be removed"

    report = make_report(run_id="next-run")
    snapshots: list[dict[str, set[str]]] = []
    done = threading.Event()

    def watch() -> None:
        while not (done.is_set() and snapshots and snapshots[-1]):  # until it has seen the published run
            snapshots.append({d.name: {p.name for p in d.iterdir()} for d in visible(out)})

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        brief = publish_report(report, make_embeddings(report), out)
    finally:
        done.set()
        watcher.join()
    assert not staging.exists() and live.exists()
    assert {p.name for p in brief.directory.iterdir()} == BRIEF_FILES
    seen = [files for snapshot in snapshots for files in snapshot.values()]
    assert seen and all(files == BRIEF_FILES for files in seen), "a reader only ever sees complete run directories"


def test_brief_moved_aside_by_a_killed_publisher_is_put_back(tmp_path):
    report = make_report(Policy.REJECT)
    publish_report(report, make_embeddings(report), tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".{report.run_id}.old-{int(dead.stdout)}"
    os.replace(tmp_path / report.run_id, aside)  # what _swap_in leaves when killed between its two renames
    old = time.time() - STALE_AFTER_SECONDS - 1
    os.utime(aside, (old, old))
    assert remove_leftovers(tmp_path) == [aside]
    assert [p.name for p in tmp_path.iterdir()] == [report.run_id]
    assert (tmp_path / report.run_id / "report.json").is_file()


def test_a_failed_atomic_write_keeps_the_old_file_and_no_staging(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError), staged_file(target) as staging:
        staging.write_text("half")
        raise RuntimeError("killed mid-write")
    write_atomic(tmp_path / "data.bin", b"\x00\x01")
    assert target.read_text() == "old" and (tmp_path / "data.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "state.json"]
