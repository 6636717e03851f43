"""Serve the research flow without a worker: `python -m deployments.serve` (mirrors prefect.yaml)."""

from __future__ import annotations

from flows.research import research_flow


def main() -> None:
    """Register the `research` deployment and run its flow runs in this process."""
    research_flow.serve(
        name="research",
        description="Research one goal and publish a reviewed, cited brief.",
        tags=["sovereign"],
        parameters={"source": "corpus", "max_papers": 8, "max_revision_rounds": 1, "out_dir": "runs"},
    )


if __name__ == "__main__":
    main()
