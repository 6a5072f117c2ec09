"""Recreating a restore plan's objects in the target cluster, stage by stage.

Checks come first, so a bad request loses nothing: every storage class the restored
objects need (mapping targets included) must exist in the target or be restored by this
run, else a non-retryable error before any object is created.

Per object: create; if it exists, ``skip`` leaves it (unless this run created it in an
earlier attempt: a retried activity reports what it made as created), ``update`` replaces it
keeping the cluster's immutable fields (`restore_update`). A type the target does not
serve, or an object the API server rejects (4xx), fails that object only; transient
errors (5xx, connection) raise so Temporal retries the activity, which is idempotent.
Custom resources come after their CRDs are established and discovery is refreshed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from temporalio.exceptions import ApplicationError

from activities.kube import rest
from activities.kube.api_errors import api_error_message
from activities.kube.discovery import CRDS, STORAGE_CLASSES, collection_path, object_path
from activities.kube.heartbeat import heartbeat
from activities.kube.restore_plan import NotRestored, PlannedObject, plan_restore, stage_of
from activities.kube.restore_tree import ExportedObject, read_exported_objects
from activities.kube.restore_update import replacement
from activities.kube.waiting import wait_until_all
from lifeboat.contracts.kube import RUN_LABEL, ResourceType
from lifeboat.contracts.restore import (
    RestoredClaim,
    RestoreObjectResult,
    RestoreOutcome,
    RestoreResourcesInput,
    RestoreResourcesResult,
    RestoreStage,
)
from lifeboat.models import ExistingResourcePolicy

log = structlog.get_logger(__name__)

CRD_ESTABLISHED_TIMEOUT_SECONDS = 60.0
UPDATE_ATTEMPTS = 3
PERMANENT_STATUSES = frozenset({400, 403, 404, 405, 409, 410, 413, 415, 422})
"""Answers that retrying the same request will not change: the object fails, others go on."""


def existing_storage_classes(api: client.ApiClient) -> set[str]:
    return {sc["metadata"]["name"] for sc in rest.list_items(api, collection_path(STORAGE_CLASSES))}


def check_storage_classes(
    api: client.ApiClient,
    needed: Mapping[str, Sequence[str]],
    restored: frozenset[str] = frozenset(),
) -> None:
    """Raise a non-retryable error naming every needed class the target lacks."""
    existing = existing_storage_classes(api)
    missing = {k: v for k, v in needed.items() if k not in existing and k not in restored}
    if not missing:
        return
    problems = "; ".join(
        f"storage class {name!r} (needed by {', '.join(users[:3])}"
        f"{f' and {len(users) - 3} more' if len(users) > 3 else ''})"
        for name, users in sorted(missing.items())
    )
    raise ApplicationError(
        f"storage_class_mapping: the target cluster has no {problems}; it has "
        f"{', '.join(sorted(existing)) or 'no storage classes'}. Map the backed-up classes "
        "to existing ones with storage_class_mapping.",
        type="UnknownStorageClass",
        non_retryable=True,
    )


class ServedTypes:
    """What the target serves, per group-version, asked on first use; `refresh` after CRDs."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._cache: dict[str, dict[str, ResourceType]] = {}

    def find(self, obj: ExportedObject) -> ResourceType | None:
        if obj.api_version not in self._cache:
            self._cache[obj.api_version] = self._discover(obj.group, obj.version)
        return self._cache[obj.api_version].get(obj.plural)

    def refresh(self) -> None:
        self._cache.clear()

    def _discover(self, group: str, version: str) -> dict[str, ResourceType]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        answer = rest.find(self._api, path) or {}
        return {
            r["name"]: ResourceType(
                group=group,
                version=version,
                kind=r["kind"],
                plural=r["name"],
                namespaced=bool(r.get("namespaced")),
                verbs=sorted(r.get("verbs") or []),
            )
            for r in answer.get("resources") or []
            if "/" not in r["name"]
        }


def restore_resources(
    api: client.ApiClient, request: RestoreResourcesInput
) -> RestoreResourcesResult:
    exported = read_exported_objects(Path(request.resources_dir))
    plan = plan_restore(exported, request.request, request.run_id)
    check_storage_classes(api, plan.storage_classes, plan.restored_storage_classes)
    applier = _Applier(api, request.request.existing_resource_policy, request.run_id)
    results: list[RestoreObjectResult] = []
    claims: list[RestoredClaim] = []
    existing_claims: list[RestoredClaim] = []
    for stage in RestoreStage:
        if stage not in request.stages:
            continue
        results.extend(
            _not_restored(item, request.request.target_namespace)
            for item in plan.not_restored
            if stage_of(item.source) == stage
        )
        applied = []
        for planned in plan.stage(stage):
            result = applier.apply(planned)
            applied.append((planned, result))
            heartbeat({"stage": str(stage), "object": result.ref, "outcome": str(result.outcome)})
        results.extend(result for _, result in applied)
        for planned, result in applied:
            if planned.source.resource != "persistentvolumeclaims":
                continue
            if result.outcome == RestoreOutcome.CREATED:
                claims.append(_claim(planned))
            elif result.outcome in (RestoreOutcome.UPDATED, RestoreOutcome.SKIPPED):
                existing_claims.append(_claim(planned))
        if stage is RestoreStage.DEFINITIONS:
            crds = [p.name for p, r in applied if r.outcome != RestoreOutcome.FAILED]
            wait_established(api, crds)
            applier.served.refresh()
    log.info(
        "kube.restore_resources.done",
        run_id=request.run_id,
        stages=[str(s) for s in request.stages],
        **{str(k): v for k, v in RestoreResourcesResult(objects=tuple(results)).counts.items()},
    )
    return RestoreResourcesResult(
        objects=tuple(results), claims=tuple(claims), existing_claims=tuple(existing_claims)
    )


def wait_established(
    api: client.ApiClient, names: Sequence[str], timeout: float = CRD_ESTABLISHED_TIMEOUT_SECONDS
) -> None:
    """Until every CRD named serves its resources (a create of them would 404 before)."""

    def established(name: str) -> bool:
        crd = rest.find(api, object_path(CRDS, None, name)) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    wait_until_all(
        [partial(established, name) for name in names],
        timeout,
        "the restored CustomResourceDefinitions to be established",
    )


class _Applier:
    def __init__(self, api: client.ApiClient, policy: ExistingResourcePolicy, run_id: str):
        self.api = api
        self.policy = policy
        self.run_id = run_id
        self.served = ServedTypes(api)

    def apply(self, planned: PlannedObject) -> RestoreObjectResult:
        source = planned.source
        served = self.served.find(source)
        if served is None:
            return _result(
                planned,
                RestoreOutcome.FAILED,
                f"the target cluster does not serve {source.resource} at {source.api_version}; "
                "restore its CustomResourceDefinition too, or install it first",
            )
        namespace = planned.namespace if served.namespaced else None
        try:
            if rest.create(self.api, collection_path(served, namespace), planned.manifest):
                return _result(planned, RestoreOutcome.CREATED)
            return self._exists(planned, object_path(served, namespace, planned.name))
        except ApiException as exc:
            if exc.status in PERMANENT_STATUSES:
                return _result(planned, RestoreOutcome.FAILED, api_error_message(exc))
            raise

    def _exists(self, planned: PlannedObject, path: str) -> RestoreObjectResult:
        for _ in range(UPDATE_ATTEMPTS):
            existing = rest.get(self.api, path)
            labels = existing["metadata"].get("labels") or {}
            if labels.get(RUN_LABEL) == self.run_id:
                return _result(
                    planned,
                    RestoreOutcome.CREATED,
                    "restored by an earlier attempt of this run",
                )
            if self.policy is ExistingResourcePolicy.SKIP:
                return _result(planned, RestoreOutcome.SKIPPED, "exists")
            source = planned.source
            body, kept = replacement(source.group, source.kind, planned.manifest, existing)
            try:
                rest.request(self.api, "PUT", path, body=body)
            except ApiException as exc:
                if exc.status == 409:  # changed since we read it: read again
                    continue
                raise
            reason = f"kept the cluster's {', '.join(kept)}" if kept else None
            return _result(planned, RestoreOutcome.UPDATED, reason, kept)
        return _result(planned, RestoreOutcome.FAILED, "kept changing while being updated")


def _result(
    planned: PlannedObject,
    outcome: RestoreOutcome,
    reason: str | None = None,
    kept: Sequence[str] = (),
) -> RestoreObjectResult:
    source = planned.source
    return RestoreObjectResult(
        resource=source.resource,
        kind=source.kind,
        namespace=planned.namespace,
        name=planned.name,
        source_namespace=source.namespace if source.namespace != planned.namespace else None,
        outcome=outcome,
        reason=reason,
        kept_fields=tuple(kept),
    )


def _not_restored(item: NotRestored, target_namespace: Callable[[str], str]) -> RestoreObjectResult:
    source = item.source
    namespace = target_namespace(source.namespace) if source.namespace else None
    return RestoreObjectResult(
        resource=source.resource,
        kind=source.kind,
        namespace=namespace,
        name=source.name,
        source_namespace=source.namespace if source.namespace != namespace else None,
        outcome=RestoreOutcome.SKIPPED,
        reason=f"not restored: {item.reason}",
    )


def _claim(planned: PlannedObject) -> RestoredClaim:
    assert planned.namespace is not None and planned.source.namespace is not None
    return RestoredClaim(
        source_namespace=planned.source.namespace,
        namespace=planned.namespace,
        name=planned.name,
        storage_class=(planned.manifest.get("spec") or {}).get("storageClassName"),
    )
