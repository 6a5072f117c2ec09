"""Determinism: recorded histories of real runs replay against today's workflow code.

A change to a workflow that would break runs in flight (a step added, removed or reordered
without versioning) makes the replay fail here, without running a backup. The histories
were recorded from real runs on the devstack by the live tests (test_backup.py,
test_restore.py) with LIFEBOAT_RECORD_HISTORIES=1; record new ones that way after a change
that is meant to be incompatible (and versioned).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import workflows

HISTORIES = {
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
}


def replayer() -> Replayer:
    return Replayer(workflows=list(workflows.WORKFLOWS), data_converter=pydantic_data_converter)


def recorded_history(name: str) -> WorkflowHistory:
    """A history saved by the `replay` fixture, with the id of the run it came from (older
    files lack it: their workflows derive nothing from their own id)."""
    recorded = json.loads(HISTORIES[name])
    return WorkflowHistory.from_json(recorded.pop("workflowId", name), recorded)


@pytest.mark.parametrize("name", HISTORIES)
async def test_a_committed_history_replays(name: str) -> None:
    history = recorded_history(name)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_both_workflows_have_a_committed_history() -> None:
    assert set(HISTORIES) >= {"backup", "restore", "migration"}
