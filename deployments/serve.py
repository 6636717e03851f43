"""Serve SOVEREIGN's deployments without a worker: `python -m deployments.serve` (read from prefect.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

PROJECT = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT / "prefect.yaml"


def read_deployments(prefect_yaml: Path = PREFECT_YAML) -> list[dict]:
    """The deployments prefect.yaml declares, with its anchors resolved."""
    return yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))["deployments"]


def to_runner_deployment(spec: dict) -> RunnerDeployment:
    """One prefect.yaml deployment as a deployment served from this process."""
    flow = load_flow_from_entrypoint(str(PROJECT / spec["entrypoint"]))
    schedules = [
        Cron(s["cron"], timezone=s.get("timezone")) for s in spec.get("schedules", []) if s.get("active", True)
    ]
    return flow.to_deployment(
        name=spec["name"],
        description=spec.get("description"),
        tags=spec.get("tags"),
        parameters=spec.get("parameters"),
        schedules=schedules or None,
    )


def main() -> None:
    """Register every deployment in prefect.yaml and run their flow runs in this process."""
    serve(*(to_runner_deployment(spec) for spec in read_deployments()))


if __name__ == "__main__":
    main()
