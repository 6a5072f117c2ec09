"""`python -m devstack.kube`: serve one emulated cluster until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

import structlog
from aiohttp import web

from lifeboat.logging_setup import configure_logging, register_secret

from . import layout
from .app import KubeApp
from .cluster import Cluster
from .kubeconfig import write_kubeconfig

log = structlog.get_logger(__name__)
TICK_SECONDS = 0.25


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.kube", description=__doc__)
    parser.add_argument("--name", required=True, help="cluster, context and user name")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--nodes", required=True, help="comma-separated node names")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace) -> tuple[Cluster, KubeApp]:
    """Load or create the cluster and write its kubeconfig, before serving."""
    nodes = [n for n in args.nodes.split(",") if n]
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(args.name, state_dir, nodes)
    cluster.start()
    url = layout.api_url(args.host, args.port)
    token = write_kubeconfig(layout.kubeconfig_path(state_dir), args.name, url)
    register_secret(token)
    return cluster, KubeApp(cluster, token, f"{args.host}:{args.port}")


async def serve(args: argparse.Namespace, cluster: Cluster, kube_app: KubeApp) -> None:
    runner = web.AppRunner(kube_app.build(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "kube.serving",
        cluster=cluster.name,
        url=layout.api_url(args.host, args.port),
        nodes=list(cluster.nodes),
        state_dir=str(cluster.state_dir),
    )
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
            cluster.reconciler.settle()
            cluster.save()
    finally:
        kube_app.stopping.set()
        await runner.cleanup()
        cluster.save()
        log.info("kube.stopped", cluster=cluster.name)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    configure_logging(args.log_level)
    cluster, kube_app = prepare(args)
    asyncio.run(serve(args, cluster, kube_app))


if __name__ == "__main__":
    main()
