"""Resume: SIGKILL the flow process at each stage boundary in turn, run the goal again, and no finished stage
runs twice while the brief comes out the same.

One driver process imports the kernel once and forks every run from it (a cold import costs more than a
run): an uninterrupted baseline, then for each stage a run killed as that stage's last task run completes and
a re-run on the same result store and output directory. "Right after the stage" means once the stage has
completed as many task runs as in the baseline (four searches, three reviews). Each killed run starts from a
copy of the previous killed run's store, so it computes only its own stage: the same state as one run killed
there, at half the stage executions (claim verification alone takes seconds a run). Killing inside publish is
tests/test_disk.py's job. A brief's run id holds the time and the flow run id, and it records wall times, so
"the same brief" is compared on content: report.json less those run-specific fields, and the claims and papers
tables, against a reference run in a separate process with its own string-hash seed, which also proves ranking
does not depend on set iteration order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from tests.factories import brief_content

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
# a goal the fixture corpus answers whole at once: the baseline needs no revision round
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
DRIVER_SECONDS = 420
# Every stage task of research_flow in the order it runs; the baseline must complete exactly these and publish.
BOUNDARIES = [
    "plan_queries",
    "search",
    "merge_rank",
    "extract_claims",
    "verify_claims",
    "embed",
    "compose_draft",
    "review",
    "decide_policy",
]

DRIVER = """
import json, os, shutil, signal, sys, threading, traceback
from collections import Counter
from pathlib import Path
from tasks.progress import subscribe
from flows.research import research_flow

work, goal, corpus, boundaries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
work = Path(work)

def run(name, store, out_dir, kill_after="", times=0):
    \"\"\"Fork one research run; it SIGKILLs itself once `kill_after` has completed `times` task runs.\"\"\"
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    completed, lock = Counter(), threading.Lock()

    def record(stage, state):
        with lock:
            with open(work / f"{name}.log", "a") as log:  # closed, so written, before any kill
                log.write(f"{stage} {state}\\n")
            completed[stage] += state == "Completed"
            if stage == kill_after and completed[stage] == times:
                os.kill(os.getpid(), signal.SIGKILL)

    subscribe(record)
    code = 1
    try:
        research_flow.with_options(result_storage=work / store)(goal=goal, corpus=corpus, out_dir=str(work / out_dir))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)

codes = {"baseline": run("baseline", "results-baseline", "baseline")}
baseline = Counter(line.split()[0] for line in open(work / "baseline.log") if line.split()[1] == "Completed")
killed_state = None
for stage in boundaries:
    if killed_state:
        shutil.copytree(killed_state, work / f"results-{stage}")
    codes[f"killed-{stage}"] = run(f"killed-{stage}", f"results-{stage}", stage, stage, baseline[stage])
    killed_state = shutil.copytree(work / f"results-{stage}", work / f"killed-state-{stage}")
    published = work / stage
    codes[f"published-{stage}"] = sorted(os.listdir(published)) if published.exists() else []
    codes[f"resumed-{stage}"] = run(f"resumed-{stage}", f"results-{stage}", stage)
print(json.dumps(codes), flush=True)
"""

REFERENCE = """
import sys
from pathlib import Path
from flows.research import research_flow

goal, corpus, out_dir, store = sys.argv[1:]
research_flow.with_options(result_storage=Path(store))(goal=goal, corpus=corpus, out_dir=out_dir)
"""

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def events(log: Path) -> Counter:
    """How often each (stage, state) was seen by a run's stage hooks."""
    return Counter(tuple(line.split(" ", 1)) for line in log.read_text().splitlines())


def brief(out_dir: Path) -> Path:
    """The one brief published under `out_dir`."""
    (directory,) = [d for d in out_dir.iterdir() if not d.name.startswith(".")]
    return directory


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """Run the baseline, every kill and every re-run, and the reference; the work dir, exit codes, reference."""
    work = tmp_path_factory.mktemp("resume")
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(work / "prefect-home"),
        "PYTHONHASHSEED": "random",
    }
    reference = [sys.executable, "-c", REFERENCE, GOAL, str(FIXTURE), str(work / "reference"), str(work / "ref-store")]
    driver = [sys.executable, "-c", DRIVER, str(work), GOAL, str(FIXTURE), *BOUNDARIES]
    # The reference needs nothing from the driver: the two run side by side on the two cores.
    second = subprocess.Popen(reference, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = subprocess.run(driver, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=DRIVER_SECONDS)
        _, reference_err = second.communicate(timeout=DRIVER_SECONDS)
    finally:
        second.kill()  # no-op once it has exited
        second.wait()
    assert first.returncode == 0, first.stderr[-4000:]
    assert second.returncode == 0, reference_err.decode()[-4000:]
    return work, json.loads(first.stdout.splitlines()[-1]), brief_content(brief(work / "reference"))


def test_the_baseline_runs_every_stage_and_matches_the_reference(crashes):
    work, codes, reference = crashes
    completed = {stage for (stage, state) in events(work / "baseline.log") if state == "Completed"}
    assert codes["baseline"] == 0 and completed == {*BOUNDARIES, "publish"}, "a new stage needs a boundary here"
    assert brief_content(brief(work / "baseline")) == reference


@pytest.mark.parametrize("stage", BOUNDARIES)
def test_a_run_killed_after_a_stage_resumes_without_redoing_finished_work_and_publishes_the_same_brief(crashes, stage):
    work, codes, reference = crashes
    baseline, killed = events(work / "baseline.log"), events(work / f"killed-{stage}.log")
    finished = BOUNDARIES[: BOUNDARIES.index(stage) + 1]

    assert codes[f"killed-{stage}"] == -signal.SIGKILL
    assert codes[f"published-{stage}"] == [], "a killed run published nothing"
    assert {s for (s, state) in killed if state == "Completed"} == {stage}, "it computed its stage, then died"
    assert killed[(stage, "Completed")] == baseline[(stage, "Completed")], "killed once the whole stage completed"
    assert {s for (s, state) in killed if state == "Cached"} == set(finished[:-1]), "the earlier kills' work"

    resumed = events(work / f"resumed-{stage}.log")
    assert codes[f"resumed-{stage}"] == 0
    for done in finished:
        assert resumed[(done, "Completed")] == 0, f"{done} ran again"
        assert resumed[(done, "Cached")] == baseline[(done, "Completed")], done
    for rest in [*BOUNDARIES[len(finished) :], "publish"]:
        assert resumed[(rest, "Completed")] == baseline[(rest, "Completed")], f"{rest} ran as often as uninterrupted"
    assert brief_content(brief(work / stage)) == reference
