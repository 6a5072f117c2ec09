"""Reading an exported manifest tree back: ``resources/<namespace or _cluster>/<type>/<name>.json``.

Each object is taken from its own file; the directory names give its resource type and
scope, and the manifest its ``apiVersion`` and ``kind``, so nothing else (``index.json``
included) must agree for an object to be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from activities.kube.rest import Obj

RESOURCES_DIR = "resources"
CLUSTER_SCOPE_DIR = "_cluster"


@dataclass(frozen=True)
class ExportedObject:
    """One backed-up object as it was exported (server-populated fields already stripped)."""

    plural: str
    group: str
    version: str
    kind: str
    namespace: str | None
    """None for cluster-scoped objects."""
    name: str
    manifest: Obj

    @property
    def resource(self) -> str:
        """``deployments.apps``, ``pods``: the form `ResourceSelection` takes."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.manifest.get("metadata", {}).get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.manifest.get("metadata", {}).get("annotations") or {})

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {scope}{self.name}"


def read_exported_objects(export_dir: Path) -> list[ExportedObject]:
    """Every object under ``export_dir/resources``, in a stable order (scope, type, name)."""
    root = export_dir / RESOURCES_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"{export_dir} holds no exported manifests ({RESOURCES_DIR}/)")
    objects = []
    for path in sorted(root.glob("*/*/*.json")):
        scope, resource = path.parent.parent.name, path.parent.name
        manifest: Obj = json.loads(path.read_text())
        plural, _, group = resource.partition(".")
        api_version: str = manifest["apiVersion"]
        objects.append(
            ExportedObject(
                plural=plural,
                group=group,
                version=api_version.rpartition("/")[2],
                kind=manifest["kind"],
                namespace=None if scope == CLUSTER_SCOPE_DIR else scope,
                name=manifest["metadata"]["name"],
                manifest=manifest,
            )
        )
    return objects
