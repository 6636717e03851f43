"""Load: 20 research runs at once, as processes, on one output directory and one cold corpus cache.

The runs are forked from one parent that imported the kernel once (20 cold imports would take the two cores
most of the test's time); they share the session's test API (20 ephemeral servers would not fit either) and
each keeps its own result store, so every stage really runs 20 times side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.settings import PREFECT_API_URL
from pypdf import PdfReader

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
RUNS = 20
DEADLINE_SECONDS = 420

# Imports the kernel, then forks one research run per child; every index build is logged with its pid.
DRIVER = """
import os, sys, time, traceback
from pathlib import Path
from tasks.index import corpus

builds, goal, corpus_path, out_dir, results, runs = sys.argv[1:]
build = corpus._build

def logged(*args, **kwargs):
    with open(builds, "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(3)  # a build long enough that the other runs arrive while it is under way
    return build(*args, **kwargs)

corpus._build = logged
from flows.research import research_flow

children = []
for i in range(int(runs)):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            flow = research_flow.with_options(result_storage=Path(results) / str(i))
            directory = flow(goal=goal, corpus=corpus_path, out_dir=out_dir).directory
            os.write(1, f"{directory}\\n".encode())  # one write: a pipe keeps it whole beside the other children's
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    children.append(pid)
failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
print(f"failed: {len(failed)}", flush=True)
sys.exit(1 if failed else 0)
"""

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_twenty_concurrent_runs_all_publish_whole_briefs_and_build_the_index_once(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURE, corpus)
    out, cache, builds = tmp_path / "runs", tmp_path / "cache", tmp_path / "builds.log"
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The test server's SQLite answers 503 when 20 clients write at once: retry longer, log locally only.
        "PREFECT_CLIENT_MAX_RETRIES": "12",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "SOVEREIGN_SEARCH__CACHE_DIR": str(cache),
        "SOVEREIGN_LLM__BACKEND": "offline",
        "SOVEREIGN_LLM__EMBEDDER": "offline",
    }
    args = [
        sys.executable,
        "-c",
        DRIVER,
        str(builds),
        GOAL,
        str(corpus),
        str(out),
        str(tmp_path / "results"),
        str(RUNS),
    ]
    process = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    assert process.returncode == 0 and "failed: 0" in process.stdout, process.stderr[-4000:]

    directories = [Path(line) for line in process.stdout.splitlines() if line.startswith("/")]
    assert_whole_briefs(out, directories, RUNS, process.stdout)
    assert len(builds.read_text().splitlines()) == 1, "the corpus index is built once"


def assert_whole_briefs(out: Path, directories: list[Path], runs: int, said: str) -> None:
    """Each of `runs` runs published its own whole brief (JSON, Parquet, PDF) under `out`, and nothing else is there."""
    published = f"every run publishes, no two share a directory; the runs said:\n{said[-4000:]}"
    assert len(directories) == runs and len(set(directories)) == runs, published
    assert sorted(p.name for p in out.iterdir()) == sorted(d.name for d in directories), "nothing else, no staging"
    for directory in directories:
        report = json.loads((directory / "report.json").read_text())
        assert report["run_id"] == directory.name
        for table in ("claims.parquet", "papers.parquet"):
            assert pq.read_table(directory / table).num_rows > 0
        assert len(PdfReader(directory / "report.pdf").pages) > 0
