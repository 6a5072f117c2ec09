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

from pydantic import Field, computed_field

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
STAGES_BEFORE_DATA: tuple[RestoreStage, ...] = ALL_STAGES[: ALL_STAGES.index(RestoreStage.STORAGE) + 1]
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

    run_id: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[RestoreOutcome, int]:
        tally = Counter(result.outcome for result in self.objects)
        return {outcome: tally[outcome] for outcome in RestoreOutcome}


class ExposeRestoreVolumeInput(LifeboatModel):
    """Input of ``kube.expose_restore_volume``: a restored claim to write data into."""

    run_id: str = Field(min_length=1, max_length=63)
    namespace: DnsLabel
    claim: K8sName
    timeout_seconds: float = Field(default=300.0, gt=0)
    """How long the mounter pod may take to run (the claim binds when it is scheduled)."""


class RestoreVolumeExposure(LifeboatModel):
    """Where a node agent finds a restored claim's volume, read-write."""

    namespace: DnsLabel
    claim: K8sName
    pod_name: K8sName
    pod_uid: str
    node: str
    """The node whose agent writes the data."""
    pv_name: K8sName
    path: str
    """``<pod-uid>/volumes/<plugin-dir>/<pv>/mount``, relative to the kubelet pods dir; the
    node agent may glob ``<pod-uid>/volumes/*/<pv>/mount`` if the plugin dir is unknown."""


class ReleaseRestoreVolumeInput(LifeboatModel):
    """Input of ``kube.release_restore_volume``: remove the mounter pod (idempotent)."""

    run_id: str = Field(min_length=1, max_length=63)
    namespace: DnsLabel
    claim: K8sName


__all__ = [
    "ALL_STAGES",
    "STAGES_AFTER_DATA",
    "STAGES_BEFORE_DATA",
    "CheckStorageClassesInput",
    "ExposeRestoreVolumeInput",
    "ReleaseRestoreVolumeInput",
    "RecoveryPointId",
    "RestoreObjectResult",
    "RestoreOutcome",
    "RestoreResourcesInput",
    "RestoreResourcesResult",
    "RestoreStage",
    "RestoreVolumeExposure",
    "RestoredClaim",
]
