"""Orchestration only: deterministic, sandbox-safe workflows that call activities by name."""

from __future__ import annotations

from workflows.backup import BackupWorkflow
from workflows.catalog import CatalogQueryWorkflow
from workflows.eks_restore import EksRestoreWorkflow
from workflows.expiry import ExpireRecoveryPointWorkflow
from workflows.maintenance import RepositoryMaintenanceWorkflow, ScheduledMaintenanceWorkflow
from workflows.migration import MigrationWorkflow
from workflows.restore import RestoreWorkflow

WORKFLOWS: tuple[type, ...] = (
    BackupWorkflow,
    RestoreWorkflow,
    CatalogQueryWorkflow,
    EksRestoreWorkflow,
    ExpireRecoveryPointWorkflow,
    MigrationWorkflow,
    RepositoryMaintenanceWorkflow,
    ScheduledMaintenanceWorkflow,
)

__all__ = [
    "WORKFLOWS",
    "BackupWorkflow",
    "CatalogQueryWorkflow",
    "EksRestoreWorkflow",
    "ExpireRecoveryPointWorkflow",
    "MigrationWorkflow",
    "RepositoryMaintenanceWorkflow",
    "RestoreWorkflow",
    "ScheduledMaintenanceWorkflow",
]
