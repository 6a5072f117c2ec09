"""Input of the restore workflow: a recovery point into the same or another cluster."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Self

from pydantic import model_validator

from lifeboat.models.common import DEFAULT_STORAGE_LOCATION, ConcurrentFiles, DnsLabel, K8sName
from lifeboat.models.errors import FieldErrors, show
from lifeboat.models.options import DEFAULT_RESTORE_CONCURRENT_FILES, DataMoverLimits
from lifeboat.models.recovery_point import RecoveryPointId
from lifeboat.models.selection import ResourceSelection


class ExistingResourcePolicy(StrEnum):
    """What a restore does with an object that already exists in the target."""

    SKIP = "skip"
    """Leave it as it is, and report it skipped."""
    UPDATE = "update"
    """Replace its spec and metadata with the backed-up ones."""


class ExistingVolumeDataPolicy(StrEnum):
    """What a restore does with the data of a volume whose claim already exists."""

    KEEP = "keep"
    """Leave it; only claims the restore creates receive data."""
    REPLACE = "replace"
    """Make it the backed-up data: files are rewritten and files not in the backup removed
    (a replication keeps its target's volumes in step this way)."""


class RestoreSpec(DataMoverLimits):
    """How a restore treats the objects and volumes it brings back: the part a restore
    request, a migration and a replication share."""

    namespace_mapping: dict[DnsLabel, DnsLabel] = {}
    """Backed-up namespace -> namespace to restore it as; unmapped ones keep their names."""

    storage_class_mapping: dict[K8sName, K8sName] = {}
    """Backed-up storage class -> storage class of the restored PVCs and PVs."""

    selection: ResourceSelection = ResourceSelection()
    """Which backed-up objects to restore, by their backed-up namespaces and labels."""

    existing_resource_policy: ExistingResourcePolicy = ExistingResourcePolicy.SKIP
    """``skip`` leaves objects that exist in the target; ``update`` overwrites them."""

    existing_volume_data: ExistingVolumeDataPolicy = ExistingVolumeDataPolicy.KEEP
    """``keep`` writes data only into claims the restore creates; ``replace`` also makes the
    data of existing claims the backed-up data."""

    restore_pv_data: bool = True
    """Restore the data of volumes copied to the repository (or from their snapshots)."""

    total_concurrent_files: ConcurrentFiles = DEFAULT_RESTORE_CONCURRENT_FILES
    """Files restored at once across all volumes of the run."""

    @model_validator(mode="after")
    def _mapping_targets_unique(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        sources: defaultdict[str, list[str]] = defaultdict(list)
        for source, target in self.namespace_mapping.items():
            sources[target].append(source)
        for target, mapped in sources.items():
            if len(mapped) > 1:
                errors.add(
                    ("namespace_mapping", mapped[-1]),
                    "namespace_mapping",
                    f"{show(target)} is the target of {', '.join(map(repr, mapped))}; "
                    "each namespace may be the target of one mapping only",
                    target,
                )
        errors.raise_if_any()
        return self

    def target_namespace(self, namespace: str) -> str:
        return self.namespace_mapping.get(namespace, namespace)

    def target_storage_class(self, storage_class: str) -> str:
        return self.storage_class_mapping.get(storage_class, storage_class)


class RestoreRequest(RestoreSpec):
    """Input of the restore workflow. Only ``recovery_point`` is required:
    ``{"recovery_point": "<id>"}`` restores everything into the cluster it came from."""

    recovery_point: RecoveryPointId
    """Id of the recovery point to restore."""

    storage_location: DnsLabel = DEFAULT_STORAGE_LOCATION
    """The storage location holding the recovery point."""

    target_cluster: DnsLabel | None = None
    """The cluster to restore into; the recovery point's own cluster when not given."""

    replication: DnsLabel | None = None
    """Set by the runs of a replication: restored objects are labelled with its name, so a
    later run can remove those deleted at the source, and never anything else."""
