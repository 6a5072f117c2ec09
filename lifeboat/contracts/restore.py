"""Inputs and outputs of the cluster agent's restore activities.

The restore workflow first has the data mover put a recovery point's exported manifests
into a directory on the cluster agent, then asks the agent to recreate the objects
(``kube.restore_resources``), possibly in two passes: storage first, so volume data can
be written through a mounter pod (``kube.expose_restore_volume`` /
``kube.release_restore_volume``) before the workloads that use it start.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from lifeboat.contracts.kube import RunId, Seconds
from lifeboat.models import LifeboatModel, RestoreRequest
from lifeboat.models.common import AbsolutePath, DnsLabel, K8sName
from lifeboat.models.recovery_point import RecoveryPointId


class RestoreStage(StrEnum):
    """The order objects are restored in: each stage's objects exist before the next's."""

    DEFINITIONS = "definitions"
    """CustomResourceDefinitions, waited for until established."""
    NAMESPACES = "namespaces"
    STORAGE = "storage"
    """StorageClasses, PersistentVolumes, PersistentVolumeClaims."""
    CONFIGURATION = "configuration"
    """Secrets and ConfigMaps."""
    IDENTITY = "identity"
    """ServiceAccounts and RBAC."""
    WORKLOADS = "workloads"
    """Services, workload controllers, jobs and pods."""
    OTHERS = "others"
    """Everything else, custom resources included."""


ALL_STAGES: tuple[RestoreStage, ...] = tuple(RestoreStage)
STAGES_BEFORE_DATA: tuple[RestoreStage, ...] = ALL_STAGES[
    : ALL_STAGES.index(RestoreStage.STORAGE) + 1
]
"""What must exist before volume data is written: up to and including the claims."""
STAGES_AFTER_DATA: tuple[RestoreStage, ...] = ALL_STAGES[len(STAGES_BEFORE_DATA) :]


class RestoreOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    """Exists already (policy ``skip``), or never restored by rule; ``reason`` says which."""
    FAILED = "failed"


class CheckStorageClassesInput(LifeboatModel):
    """Input of ``kube.check_storage_class_mapping``: fail fast, before anything is fetched."""

    storage_class_mapping: dict[K8sName, K8sName]


class RestoreResourcesInput(LifeboatModel):
    """Input of ``kube.restore_resources``."""

    run_id: RunId
    """The restore run; restored objects carry it as the ``lifeboat.io/run`` label, so a retried
    attempt recognises what an earlier one created."""

    request: RestoreRequest
    """Selection, mappings and the existing-resource policy."""

    resources_dir: AbsolutePath
    """The exported manifests (``resources/<namespace or _cluster>/<type>/<name>.json``),
    restored from the repository onto the cluster agent."""

    stages: tuple[RestoreStage, ...] = ALL_STAGES
    """Only objects of these stages (the workflow restores storage, then data, then the rest)."""


class RestoreObjectResult(LifeboatModel):
    """What happened to one backed-up object."""

    resource: str
    """Resource type, ``<plural>`` or ``<plural>.<group>``."""
    kind: str
    namespace: str | None
    """Namespace in the target cluster; None for cluster-scoped objects."""
    name: str
    source_namespace: str | None = None
    """Namespace it was backed up from, when the mapping changed it."""
    outcome: RestoreOutcome
    reason: str | None = None
    kept_fields: tuple[str, ...] = ()
    """With policy ``update``: immutable fields where the cluster's value was kept although
    the backed-up one differs."""

    @property
    def ref(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.resource}/{scope}{self.name}"


class RestoredClaim(LifeboatModel):
    """A PersistentVolumeClaim the restore created, where its volume's data may go."""

    source_namespace: DnsLabel
    namespace: DnsLabel
    name: K8sName
    storage_class: K8sName | None


class RestoreResourcesResult(LifeboatModel):
    """Output of ``kube.restore_resources``."""

    objects: tuple[RestoreObjectResult, ...]
    claims: tuple[RestoredClaim, ...] = ()
    """Claims created by this run (not those skipped or updated): they are new and empty."""
    existing_claims: tuple[RestoredClaim, ...] = ()
    """Claims that existed already (skipped or updated): their data is replaced only when
    the request's ``existing_volume_data`` says so."""

    @property
    def counts(self) -> dict[RestoreOutcome, int]:
        tally = Counter(result.outcome for result in self.objects)
        return {outcome: tally[outcome] for outcome in RestoreOutcome}


class ExposeRestoreVolumeInput(LifeboatModel):
    """Input of ``kube.expose_restore_volume``: a restored claim to write data into.

    The answer is a `lifeboat.contracts.kube.VolumeExposure`, as for a backup's volume."""

    run_id: RunId
    recovery_point: RecoveryPointId | None = None
    """Labels the mounter pod, for people reading the cluster."""
    namespace: DnsLabel
    claim: K8sName
    timeout_seconds: Seconds = 300.0
    """How long the mounter pod may take to run (the claim binds when it is scheduled)."""


class PruneReplicatedInput(LifeboatModel):
    """Input of ``kube.prune_replicated``: remove what a replication restored earlier and
    its latest run did not bring back (the source no longer has it)."""

    replication: DnsLabel
    keep: list[str]
    """``RestoreObjectResult.ref`` of every object the latest run handled, whatever its
    outcome: a failed update must not turn into a delete."""


class PruneResult(LifeboatModel):
    """Objects a replication run removed from its target, as ``resource/namespace/name``."""

    removed: list[str] = []


class ReleaseRestoreVolumeInput(LifeboatModel):
    """Input of ``kube.release_restore_volume``: remove the mounter pod and wait until it
    is gone (idempotent; it needs no exposure, so a cancelled run can call it too)."""

    run_id: RunId
    namespace: DnsLabel
    claim: K8sName
    timeout_seconds: Seconds = 120.0


__all__ = [
    "ALL_STAGES",
    "STAGES_AFTER_DATA",
    "STAGES_BEFORE_DATA",
    "CheckStorageClassesInput",
    "ExposeRestoreVolumeInput",
    "PruneReplicatedInput",
    "PruneResult",
    "ReleaseRestoreVolumeInput",
    "RestoreObjectResult",
    "RestoreOutcome",
    "RestoreResourcesInput",
    "RestoreResourcesResult",
    "RestoreStage",
    "RestoredClaim",
]
