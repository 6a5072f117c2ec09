"""Orchestration only: deterministic, sandbox-safe workflows that call activities by name."""

from __future__ import annotations

from workflows.backup import BackupWorkflow
from workflows.catalog import CatalogQueryWorkflow
from workflows.eks_restore import EksRestoreWorkflow
from workflows.expiry import ExpireRecoveryPointWorkflow
from workflows.restore import RestoreWorkflow

WORKFLOWS: tuple[type, ...] = (
    BackupWorkflow,
    RestoreWorkflow,
    CatalogQueryWorkflow,
    EksRestoreWorkflow,
    ExpireRecoveryPointWorkflow,
)

__all__ = [
    "WORKFLOWS",
    "BackupWorkflow",
    "CatalogQueryWorkflow",
    "EksRestoreWorkflow",
    "ExpireRecoveryPointWorkflow",
    "RestoreWorkflow",
]
