"""A sample application to back up: `lifeboat dev seed` and the tests load it.

Three namespaces: `shop` (a Postgres StatefulSet on `csi-snap`, an uploads volume on
`csi-nosnap`), `blog` (WordPress content on `nfs`, MySQL on `local`) and `docs` (no PVC at
all), with deployments, services, configmaps, secrets, RBAC and custom resources of the
`widgets.demo.lifeboat.dev` CRD. Volume files are generated deterministically and written
the way the app would: into the pod's volume at the kubelet path on the pod's node.

Seeding is idempotent: existing objects are kept and files are rewritten with the same
bytes, so the reported digests are stable.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict

from devstack.info import ClusterInfo

CRD_GROUP = "demo.lifeboat.dev"
CRD_NAME = f"widgets.{CRD_GROUP}"
NAMESPACES = ("shop", "blog", "docs")
NAMESPACE_WITHOUT_PVCS = "docs"


class SeededVolume(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str
    pvc: str
    storage_class: str
    pv: str
    pod: str
    node: str
    files: int
    bytes: int
    digest: str


class SeedReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespaces: tuple[str, ...]
    namespace_without_pvcs: str
    crd: str
    # kind -> "namespace/name" of every object the seed applied (existing ones included)
    objects: dict[str, tuple[str, ...]]
    volumes: tuple[SeededVolume, ...]

    def volume(self, namespace: str, pvc: str) -> SeededVolume:
        return next(v for v in self.volumes if (v.namespace, v.pvc) == (namespace, pvc))


def volume_digest(path: Path) -> str:
    """SHA-256 over a directory tree's names, types and file contents (not times or
    modes), so a restored volume can be compared byte for byte with the original."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        base = Path(root)
        rel_root = base.relative_to(path).as_posix()
        digest.update(f"d {rel_root}\n".encode())
        for name in sorted(files):
            entry = base / name
            rel = f"{rel_root}/{name}"
            if entry.is_symlink():
                digest.update(f"l {rel} {os.readlink(entry)}\n".encode())
                continue
            content = hashlib.sha256(entry.read_bytes()).hexdigest()
            digest.update(f"f {rel} {entry.stat().st_size} {content}\n".encode())
    return digest.hexdigest()


def generate_files(seed: str) -> dict[str, bytes]:
    """A few hundred KB in nested directories: text that compresses, bytes that do not."""
    rng = random.Random(seed)
    words = ["order", "invoice", "customer", "widget", "shipment", "refund", "cart", "sku"]
    files: dict[str, bytes] = {"README.txt": f"sample volume {seed}\n".encode()}
    for index in range(12):
        depth = rng.randint(0, 3)
        folder = "/".join(
            f"{rng.choice(['data', 'logs', 'media', 'db'])}{rng.randint(0, 3)}"
            for _ in range(depth)
        )
        size = rng.randint(8_000, 40_000)
        if index % 2:
            content = rng.randbytes(size)
            name = f"blob-{index:02d}.bin"
        else:
            lines = (f"{i} {rng.choice(words)} {rng.randint(0, 10**6)}\n" for i in range(size))
            content = "".join(lines).encode()[:size]
            name = f"table-{index:02d}.csv"
        files[f"{folder}/{name}" if folder else name] = content
    return files


def _apply(create: Callable[[], Any], read: Callable[[], Any]) -> Any:
    """Create, or read what is there already: seeding twice changes nothing."""
    try:
        return create()
    except ApiException as exc:
        if exc.status != 409:
            raise
        return read()


def _labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "lifeboat-demo"}


def _container(name: str, image: str, mount: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image}
    if mount:
        container["volumeMounts"] = [{"name": "data", "mountPath": mount}]
    return container


def _deployment(
    name: str, image: str, replicas: int, claim: str | None = None, mount: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [_container(name, image, mount if claim else None)]}
    if claim:
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(name)},
            "template": {"metadata": {"labels": _labels(name)}, "spec": spec},
        },
    }


def _statefulset(name: str, image: str, storage_class: str, mount: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": _labels(name)},
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {"containers": [_container(name, image, mount)]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": storage_class,
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


def _pvc(name: str, storage_class: str, mode: str = "ReadWriteOnce") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "accessModes": [mode],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def _service(name: str, port: int, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": _labels(name), "ports": [{"name": "main", "port": port}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"metadata": {"name": name, "labels": _labels(name)}, "spec": spec}


_WIDGET_CRD = {
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": CRD_GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
            "shortNames": ["wg"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}

# namespace -> PVC name -> (storage class, access mode) created directly (not by StatefulSets)
_STANDALONE_CLAIMS = {
    "shop": {"uploads": ("csi-nosnap", "ReadWriteOnce")},
    "blog": {"wp-content": ("nfs", "ReadWriteMany")},
}


# The client's typed methods want its model classes; manifests here are plain dicts (which
# the client validates at runtime), so its APIs are held as Any.
_client_from_config: Callable[..., client.ApiClient] = config.new_client_from_config


class _Seeder:
    def __init__(self, api: client.ApiClient) -> None:
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)
        self.rbac: Any = client.RbacAuthorizationV1Api(api)
        self.ext: Any = client.ApiextensionsV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self.objects: dict[str, list[str]] = {}

    def note(self, kind: str, namespace: str, name: str) -> None:
        self.objects.setdefault(kind, []).append(f"{namespace}/{name}" if namespace else name)

    def namespaced(
        self,
        kind: str,
        ns: str,
        body: dict[str, Any],
        create: Callable[..., Any],
        read: Callable[..., Any],
    ) -> None:
        name = body["metadata"]["name"]
        _apply(lambda: create(ns, body), lambda: read(name, ns))
        self.note(kind, ns, name)

    def app(self, ns: str) -> None:
        c, a = self.core, self.apps
        self.namespaced(
            "ConfigMap",
            ns,
            {
                "metadata": {"name": f"{ns}-config"},
                "data": {"LOG_LEVEL": "info", "FEATURES": "search,checkout"},
            },
            c.create_namespaced_config_map,
            c.read_namespaced_config_map,
        )
        self.namespaced(
            "Secret",
            ns,
            {
                "metadata": {"name": f"{ns}-credentials"},
                "stringData": {"username": f"{ns}-app", "password": f"not-a-real-password-{ns}"},
            },
            c.create_namespaced_secret,
            c.read_namespaced_secret,
        )
        self.namespaced(
            "ServiceAccount",
            ns,
            {"metadata": {"name": f"{ns}-app"}},
            c.create_namespaced_service_account,
            c.read_namespaced_service_account,
        )
        self.namespaced(
            "Role",
            ns,
            {
                "metadata": {"name": f"{ns}-reader"},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
                ],
            },
            self.rbac.create_namespaced_role,
            self.rbac.read_namespaced_role,
        )
        self.namespaced(
            "RoleBinding",
            ns,
            {
                "metadata": {"name": f"{ns}-reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": f"{ns}-reader",
                },
                "subjects": [{"kind": "ServiceAccount", "name": f"{ns}-app", "namespace": ns}],
            },
            self.rbac.create_namespaced_role_binding,
            self.rbac.read_namespaced_role_binding,
        )
        web = {"shop": "frontend", "blog": "nginx", "docs": "docs-site"}[ns]
        self.namespaced(
            "Deployment",
            ns,
            _deployment(web, "nginx:1.27", 2),
            a.create_namespaced_deployment,
            a.read_namespaced_deployment,
        )
        self.namespaced(
            "Service", ns, _service(web, 80), c.create_namespaced_service, c.read_namespaced_service
        )
        for claim, (storage_class, mode) in _STANDALONE_CLAIMS.get(ns, {}).items():
            self.namespaced(
                "PersistentVolumeClaim",
                ns,
                _pvc(claim, storage_class, mode),
                c.create_namespaced_persistent_volume_claim,
                c.read_namespaced_persistent_volume_claim,
            )
            self.namespaced(
                "Deployment",
                ns,
                _deployment(claim, "busybox:1.36", 1, claim, "/srv/data"),
                a.create_namespaced_deployment,
                a.read_namespaced_deployment,
            )
        databases = {
            "shop": ("postgres", "postgres:16", "csi-snap", 5432),
            "blog": ("mysql", "mysql:8.4", "local", 3306),
        }
        if ns in databases:
            name, image, storage_class, port = databases[ns]
            self.namespaced(
                "Service",
                ns,
                _service(name, port, headless=True),
                c.create_namespaced_service,
                c.read_namespaced_service,
            )
            self.namespaced(
                "StatefulSet",
                ns,
                _statefulset(name, image, storage_class, "/var/lib/data"),
                a.create_namespaced_stateful_set,
                a.read_namespaced_stateful_set,
            )
            self.note("PersistentVolumeClaim", ns, f"data-{name}-0")
        widgets = (CRD_GROUP, "v1", ns, "widgets")
        for index in range(2):
            name = f"{ns}-widget-{index}"
            body = {
                "apiVersion": f"{CRD_GROUP}/v1",
                "kind": "Widget",
                "metadata": {"name": name, "labels": _labels("widget")},
                "spec": {"size": index + 1, "color": ["red", "blue"][index]},
            }
            _apply(
                partial(self.custom.create_namespaced_custom_object, *widgets, body),
                partial(self.custom.get_namespaced_custom_object, *widgets, name),
            )
            self.note("Widget", ns, name)


def _running_pod(core: Any, ns: str, claim: str, deadline: float) -> Any:
    while True:
        for pod in core.list_namespaced_pod(ns).items:
            claims = [
                v.persistent_volume_claim.claim_name
                for v in pod.spec.volumes or []
                if v.persistent_volume_claim
            ]
            if claim in claims and pod.status.phase == "Running":
                return pod
        if time.monotonic() > deadline:
            raise TimeoutError(f"no running pod mounts {ns}/{claim}")
        time.sleep(0.2)


def _write_volume(mount: Path, files: Mapping[str, bytes]) -> None:
    for rel, content in files.items():
        target = mount / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (mount / "tmp").mkdir(exist_ok=True)  # an empty directory, as apps leave them


def seed_sample_app(
    kubeconfig: Path, kubelet_pods_dirs: Mapping[str, Path], *, timeout: float = 60.0
) -> SeedReport:
    """Load the sample app into the cluster; `kubelet_pods_dirs` maps node -> pods dir."""
    with _client_from_config(config_file=str(kubeconfig)) as api:
        seeder = _Seeder(api)
        _apply(
            partial(seeder.ext.create_custom_resource_definition, _WIDGET_CRD),
            partial(seeder.ext.read_custom_resource_definition, CRD_NAME),
        )
        seeder.note("CustomResourceDefinition", "", CRD_NAME)
        for ns in NAMESPACES:
            namespace = {"metadata": {"name": ns, "labels": _labels("lifeboat-demo")}}
            _apply(
                partial(seeder.core.create_namespace, namespace),
                partial(seeder.core.read_namespace, ns),
            )
            seeder.note("Namespace", "", ns)
            seeder.app(ns)
        deadline = time.monotonic() + timeout
        volumes = []
        for ref in seeder.objects["PersistentVolumeClaim"]:
            ns, claim = ref.split("/")
            volumes.append(_fill_volume(seeder.core, ns, claim, kubelet_pods_dirs, deadline))
        return SeedReport(
            namespaces=NAMESPACES,
            namespace_without_pvcs=NAMESPACE_WITHOUT_PVCS,
            crd=CRD_NAME,
            objects={k: tuple(v) for k, v in seeder.objects.items()},
            volumes=tuple(volumes),
        )


def _fill_volume(
    core: Any,
    ns: str,
    claim: str,
    kubelet_pods_dirs: Mapping[str, Path],
    deadline: float,
) -> SeededVolume:
    pod = _running_pod(core, ns, claim, deadline)
    pvc = core.read_namespaced_persistent_volume_claim(claim, ns)
    pv = pvc.spec.volume_name
    node = pod.spec.node_name
    pod_dir = kubelet_pods_dirs[node] / pod.metadata.uid
    mounts = list(pod_dir.glob(f"volumes/*/{pv}/mount"))
    if not mounts:
        raise RuntimeError(f"{ns}/{claim} is not mounted under {pod_dir}")
    files = generate_files(f"{ns}/{claim}")
    _write_volume(mounts[0], files)
    return SeededVolume(
        namespace=ns,
        pvc=claim,
        storage_class=pvc.spec.storage_class_name,
        pv=pv,
        pod=pod.metadata.name,
        node=node,
        files=len(files),
        bytes=sum(len(c) for c in files.values()),
        digest=volume_digest(mounts[0]),
    )


def seed_cluster(cluster: ClusterInfo, *, timeout: float = 60.0) -> SeedReport:
    """`seed_sample_app` for a cluster of the local stack."""
    return seed_sample_app(
        cluster.kubeconfig, {n.name: n.kubelet_pods_dir for n in cluster.nodes}, timeout=timeout
    )
