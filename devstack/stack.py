"""Bring the local stack up, report on it, and take it down.

`up` is idempotent: what is running and healthy is left alone, what is missing or dead is
started again on the ports the stack already had, so endpoints and kubeconfigs stay valid.
`down` stops exactly the processes recorded by `up`, by pid and start time.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict

from devstack import processes
from devstack.config_file import write_stack_config
from devstack.home import stack_home
from devstack.info import StackInfo
from devstack.ports import free_port
from devstack.readiness import wait_until_ready
from devstack.services import agents, kube, moto, seaweedfs, temporal
from devstack.state import ClusterPorts, StackPorts, StackState, load, locked, save
from lifeboat.config import CONFIG_FILE
from lifeboat.queues import CONTROL_QUEUE, cluster_queue, node_queue

log = structlog.get_logger(__name__)

DEFAULT_CLUSTERS: tuple[str, ...] = ("dev",)


@dataclass(frozen=True)
class _Service:
    """How to start one server of the stack and how to tell that it is healthy."""

    name: str
    command: Sequence[str]
    env: dict[str, str]
    endpoint: str
    healthy: Callable[[], bool]


class ServiceStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    endpoint: str
    pid: int | None
    alive: bool
    healthy: bool
    log: Path | None


class StackStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    home: Path
    healthy: bool
    info: StackInfo | None
    services: list[ServiceStatus]


class UpResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    info: StackInfo
    already_running: bool
    started: list[str]


def up(
    home: Path | None = None,
    *,
    clusters: Iterable[str] = DEFAULT_CLUSTERS,
    timeout: float = 120.0,
) -> UpResult:
    home = stack_home(home)
    with locked(home):
        state = load(home) or _new_state(home)
        state = _with_clusters(home, state, clusters)
        write_stack_config(state.info)
        started: list[str] = []
        try:
            # Servers first; the agents connect to Temporal and the clusters when they start.
            for phase in (_services(home, state), _agents(home, state)):
                started += _start_missing(home, state, phase)
                save(home, state)
                _wait_healthy(state, phase, timeout)
        except Exception:
            for name in started:
                processes.stop(state.processes.pop(name))
            save(home, state)
            raise
        return UpResult(info=state.info, already_running=not started, started=started)


def _start_missing(home: Path, state: StackState, services: list[_Service]) -> list[str]:
    started = []
    for svc in services:
        known = state.processes.get(svc.name)
        if known is not None and known.alive:
            continue
        state.processes[svc.name] = processes.spawn(
            svc.name, svc.command, log=home / "logs" / f"{svc.name}.log", env=svc.env
        )
        started.append(svc.name)
        log.info("dev.service.started", service=svc.name, endpoint=svc.endpoint)
    return started


def down(home: Path | None = None, *, purge: bool = False) -> list[str]:
    """Stop what `up` started; with `purge`, forget the stack's data and ports too."""
    home = stack_home(home)
    with locked(home):
        state = load(home)
        stopped: list[str] = []
        if state is not None:
            # Dependents first: the clusters and agents before the servers they talk to.
            for name in reversed(list(state.processes)):
                proc = state.processes.pop(name)
                if proc.alive:
                    processes.stop(proc)
                    stopped.append(name)
            save(home, state)
        if purge and home.exists():
            shutil.rmtree(home)
        return stopped


def status(home: Path | None = None) -> StackStatus:
    home = stack_home(home)
    state = load(home)
    if state is None:
        return StackStatus(home=home, healthy=False, info=None, services=[])
    rows = []
    for svc in [*_services(home, state), *_agents(home, state)]:
        proc = state.processes.get(svc.name)
        alive = proc is not None and proc.alive
        rows.append(
            ServiceStatus(
                name=svc.name,
                endpoint=svc.endpoint,
                pid=proc.pid if proc else None,
                alive=alive,
                healthy=alive and _safe(svc.healthy),
                log=proc.log if proc else None,
            )
        )
    return StackStatus(
        home=home, healthy=all(r.healthy for r in rows), info=state.info, services=rows
    )


def _new_state(home: Path) -> StackState:
    twin = (seaweedfs.GRPC_OFFSET,)
    ports = StackPorts(
        temporal=temporal.TemporalPorts(
            grpc=free_port(), ui=free_port(), http=free_port(), metrics=free_port()
        ),
        seaweedfs=seaweedfs.SeaweedPorts(
            master=free_port(twin),
            volume=free_port(twin),
            filer=free_port(twin),
            s3=free_port(twin),
            admin=free_port(twin),
            webdav=free_port(),
        ),
        moto=free_port(),
    )
    info = StackInfo(
        home=home,
        temporal=temporal.info(ports.temporal),
        s3=seaweedfs.info(
            ports.seaweedfs,
            access_key="lifeboat-" + secrets.token_hex(4),
            secret_key=secrets.token_urlsafe(24),
        ),
        aws=moto.info(ports.moto),
        clusters={},
    )
    return StackState(info=info, ports=ports)


def _with_clusters(home: Path, state: StackState, names: Iterable[str]) -> StackState:
    missing = [n for n in names if n not in state.ports.clusters]
    if not missing:
        return state
    cluster_ports = dict(state.ports.clusters)
    clusters = dict(state.info.clusters)
    for name in missing:
        nodes = kube.node_names(name)
        cluster_ports[name] = ClusterPorts(api=free_port(), nodes=nodes)
        clusters[name] = kube.info(name, _cluster_dir(home, name), cluster_ports[name].api, nodes)
    return state.model_copy(
        update={
            "ports": state.ports.model_copy(update={"clusters": cluster_ports}),
            "info": state.info.model_copy(update={"clusters": clusters}),
        }
    )


def _cluster_dir(home: Path, name: str) -> Path:
    return home / "clusters" / name


def _services(home: Path, state: StackState) -> list[_Service]:
    info, ports = state.info, state.ports
    (home / "temporal").mkdir(parents=True, exist_ok=True)
    (home / "seaweedfs").mkdir(parents=True, exist_ok=True)
    services = [
        _Service(
            name="temporal",
            command=temporal.command(ports.temporal, home / "temporal" / "temporal.db"),
            env={},
            endpoint=f"{info.temporal.address} (UI {info.temporal.ui_url})",
            healthy=lambda: temporal.healthy(info.temporal),
        ),
        _Service(
            name="seaweedfs",
            command=seaweedfs.command(ports.seaweedfs, home / "seaweedfs"),
            env=seaweedfs.environment(info.s3),
            endpoint=f"{info.s3.endpoint} (bucket {info.s3.bucket})",
            healthy=lambda: seaweedfs.healthy(info.s3),
        ),
        _Service(
            name="moto",
            command=moto.command(ports.moto),
            env=moto.environment(),
            endpoint=info.aws.endpoint,
            healthy=lambda: moto.healthy(info.aws),
        ),
    ]
    for name, cluster in info.clusters.items():
        services.append(
            _Service(
                name=f"kube-{name}",
                command=kube.command(
                    name, cluster.state_dir, ports.clusters[name].api, ports.clusters[name].nodes
                ),
                env={},
                endpoint=f"{cluster.api_url} (kubeconfig {cluster.kubeconfig})",
                healthy=lambda cluster=cluster: kube.healthy(cluster),  # type: ignore[misc]
            )
        )
    return services


def _agents(home: Path, state: StackState) -> list[_Service]:
    info = state.info
    env = agents.environment(home / CONFIG_FILE, info.aws)
    temporal_info = info.temporal
    services = [
        _Service(
            name="agent-control",
            command=agents.control_command(),
            env=env,
            endpoint=f"queue {CONTROL_QUEUE}",
            healthy=lambda: temporal.has_pollers(temporal_info, CONTROL_QUEUE, workflows=True),
        )
    ]
    for cluster in info.clusters.values():
        queue = cluster_queue(cluster.name)
        services.append(
            _Service(
                name=f"agent-{cluster.name}",
                command=agents.cluster_agent_command(cluster),
                env=env,
                endpoint=f"queue {queue}",
                healthy=lambda queue=queue: temporal.has_pollers(temporal_info, queue),  # type: ignore[misc]
            )
        )
        for node in cluster.nodes:
            queue = node_queue(cluster.name, node.name)
            services.append(
                _Service(
                    name=f"agent-{node.name}",
                    command=agents.node_agent_command(cluster, node),
                    env=env,
                    endpoint=f"queue {queue}",
                    healthy=lambda queue=queue: temporal.has_pollers(temporal_info, queue),  # type: ignore[misc]
                )
            )
    return services


def _wait_healthy(state: StackState, services: list[_Service], timeout: float) -> None:
    def wait(svc: _Service) -> None:
        wait_until_ready(state.processes[svc.name], svc.healthy, timeout=timeout)

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for fut in [pool.submit(wait, svc) for svc in services]:
            fut.result()


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        return False
