"""`lifeboat backup run|list|describe` and `lifeboat restore run`.

Commands that start a run print its id and UI link; with `--wait` they follow it to the end
with a live progress bar (on a terminal) and exit non-zero unless it succeeded; with
`--json` they print the result (or the started run) as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifeboat.cli.expire import expire
from lifeboat.cli.options import config_option
from lifeboat.client import LifeboatClient, Run, RunFailedError, failure_message
from lifeboat.config import ConfigError, load_config
from lifeboat.contracts.migration import MigrationRequest, MigrationStatus
from lifeboat.contracts.progress import RunProgress
from lifeboat.contracts.restore_run import RestoreRunResult, RestoreStatus
from lifeboat.models import (
    BackupRequest,
    RecoveryPoint,
    RecoveryPointStatus,
    RestoreRequest,
    format_validation_error,
)

_out = Console()
_err = Console(stderr=True)
T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

_wait_option = click.option("--wait", is_flag=True, help="Follow the run to its end.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
_request_option = click.option(
    "--request",
    "request_file",
    type=click.File("r"),
    default=None,
    help="A request as JSON or YAML ('-' for stdin); flags given as well override its fields.",
)


def _restore_spec_options(command: F) -> F:
    """How restored objects are named and treated: restore and migrate take the same."""
    for option in (
        click.option(
            "--existing-resource-policy",
            type=click.Choice(["skip", "update"]),
            help="Default: skip.",
        ),
        click.option(
            "--storage-class-mapping", "storage_class_mapping", multiple=True, help="OLD=NEW."
        ),
        click.option("--namespace-mapping", "namespace_mapping", multiple=True, help="OLD=NEW."),
    ):
        command = option(command)
    return command


def _run_async(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # unknown names, found before anything starts
        raise click.ClickException(str(exc)) from None


def _request(model: type[R], request_file: Any, overrides: dict[str, Any]) -> R:
    import yaml

    base: dict[str, Any] = {}
    if request_file is not None:
        loaded = yaml.safe_load(request_file.read()) or {}
        if not isinstance(loaded, dict):
            raise click.BadParameter("must hold a JSON or YAML object", param_hint="--request")
        base = loaded
    base.update({k: v for k, v in overrides.items() if v not in (None, (), {})})
    try:
        return model.model_validate(base)
    except ValidationError as exc:
        raise click.ClickException(
            f"invalid {model.__name__}:\n{format_validation_error(exc)}"
        ) from None


async def _connect(config_path: Path | None) -> LifeboatClient:
    return await LifeboatClient.connect(load_config(config_path))


async def follow_run(run: Run[R, Any], verb: str, as_json: bool) -> R:
    show = _err.is_terminal and not as_json
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=_err,
        disable=not show,
        transient=False,
    ) as bar:
        task = bar.add_task(verb, total=None, detail="starting")
        async for progress in run.follow():
            if not isinstance(progress, RunProgress):  # a migration: its phase and children
                bar.update(task, detail=f"{progress.phase.value} · {progress.recovery_point or ''}")
                continue
            live = await run.live_bytes() if progress.phase.value.startswith("copying") else 0
            total = progress.volumes_total or None
            detail = progress.phase.value
            if progress.volumes_total:
                detail += f" · volumes {progress.volumes_done}/{progress.volumes_total}"
            if live or progress.bytes_done:
                detail += f" · {_size(max(live, progress.bytes_done))}"
            bar.update(task, total=total, completed=progress.volumes_done, detail=detail)
        return await run.result()


def _start_and_follow(
    config_path: Path | None,
    start: Callable[[LifeboatClient], Awaitable[Run[R, Any]]],
    verb: str,
    *,
    wait: bool,
    as_json: bool,
) -> R | None:
    """Start a run; with `wait`, follow it and return its result (exit 1 if it failed)."""

    async def go() -> R | None:
        run = await start(await _connect(config_path))
        _started(run, as_json and not wait)
        if not wait:
            return None
        try:
            return await follow_run(run, verb, as_json)
        except RunFailedError as exc:
            _err.print(f"[red]{verb.capitalize()} failed:[/] {exc}")
            sys.exit(1)

    return _run_async(go)


@click.group()
def backup() -> None:
    """Start, list and describe backups (recovery points)."""


backup.add_command(expire)


@backup.command("run")
@config_option
@_request_option
@click.option("--cluster", help="Cluster to back up (a configured name).")
@click.option("--storage-location", help="Where the backup goes (default: 'default').")
@click.option("--namespace", "namespaces", multiple=True, help="Namespace glob to include.")
@click.option("--retention", help="How long to keep it, e.g. 30d, 12h.")
@_wait_option
@_json_option
def backup_run(
    config_path: Path | None,
    request_file: Any,
    cluster: str | None,
    storage_location: str | None,
    namespaces: tuple[str, ...],
    retention: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Back up a cluster now."""
    overrides: dict[str, Any] = {
        "cluster": cluster,
        "storage_location": storage_location,
        "retention": retention,
    }
    if namespaces:
        overrides["selection"] = {"include_namespaces": list(namespaces)}
    request = _request(BackupRequest, request_file, overrides)

    point = _start_and_follow(
        config_path,
        lambda lifeboat: lifeboat.start_backup(request),
        f"backup {request.cluster}",
        wait=wait,
        as_json=as_json,
    )
    if point is None:
        return
    if as_json:
        click.echo(point.model_dump_json(indent=2))
    else:
        print_recovery_point(point)
    if point.status is not RecoveryPointStatus.COMPLETED:
        sys.exit(1)


@backup.command("list")
@config_option
@click.option("--cluster", help="Only this cluster's recovery points.")
@click.option("--storage-location", default="default", show_default=True)
@_json_option
def backup_list(
    config_path: Path | None, cluster: str | None, storage_location: str, as_json: bool
) -> None:
    """List recovery points, oldest first, with their expiry."""

    async def go() -> list[RecoveryPoint]:
        lifeboat = await _connect(config_path)
        return await lifeboat.list_recovery_points(
            storage_location=storage_location, cluster=cluster
        )

    points = _run_async(go)
    if as_json:
        click.echo(json.dumps([p.model_dump(mode="json") for p in points], indent=2))
        return
    table = Table(title=f"Recovery points in {storage_location}")
    for column in ("id", "cluster", "status", "created", "expires", "snapshots expire", "volumes"):
        table.add_column(column)
    for p in points:
        table.add_row(
            p.id,
            p.cluster,
            p.status.value,
            f"{p.created_at:%Y-%m-%d %H:%M:%S}",
            f"{p.expires_at:%Y-%m-%d %H:%M}",
            f"{p.snapshot_expires_at:%Y-%m-%d %H:%M}" if p.snapshot_expires_at else "-",
            str(len(p.volumes)),
        )
    _out.print(table)


@backup.command("describe")
@config_option
@click.argument("recovery_point")
@click.option("--storage-location", default="default", show_default=True)
@_json_option
def backup_describe(
    config_path: Path | None, recovery_point: str, storage_location: str, as_json: bool
) -> None:
    """Show one recovery point: its volumes, methods, sizes and warnings."""

    async def go() -> RecoveryPoint:
        lifeboat = await _connect(config_path)
        try:
            return await lifeboat.describe_recovery_point(
                recovery_point, storage_location=storage_location
            )
        except Exception as exc:
            raise click.ClickException(failure_message(exc)) from None

    point = _run_async(go)
    if as_json:
        click.echo(point.model_dump_json(indent=2))
    else:
        print_recovery_point(point)


@click.group()
def restore() -> None:
    """Restore a recovery point into its cluster or another."""


@restore.command("run")
@config_option
@_request_option
@click.option("--recovery-point", help="Id of the recovery point to restore.")
@click.option("--target-cluster", help="Cluster to restore into (default: where it came from).")
@click.option("--storage-location", help="Where the recovery point is (default: 'default').")
@click.option("--namespace", "namespaces", multiple=True, help="Namespace glob to restore.")
@_restore_spec_options
@_wait_option
@_json_option
def restore_run(
    config_path: Path | None,
    request_file: Any,
    recovery_point: str | None,
    target_cluster: str | None,
    storage_location: str | None,
    namespaces: tuple[str, ...],
    namespace_mapping: tuple[str, ...],
    storage_class_mapping: tuple[str, ...],
    existing_resource_policy: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Restore a recovery point."""
    overrides: dict[str, Any] = {
        "recovery_point": recovery_point,
        "target_cluster": target_cluster,
        "storage_location": storage_location,
        **_restore_spec(namespace_mapping, storage_class_mapping, existing_resource_policy),
    }
    if namespaces:
        overrides["selection"] = {"include_namespaces": list(namespaces)}
    request = _request(RestoreRequest, request_file, overrides)

    result = _start_and_follow(
        config_path,
        lambda lifeboat: lifeboat.start_restore(request),
        f"restore {request.recovery_point}",
        wait=wait,
        as_json=as_json,
    )
    if result is None:
        return
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        print_restore(result)
    if result.status is not RestoreStatus.COMPLETED:
        sys.exit(1)


def _restore_spec(
    namespace_mapping: tuple[str, ...],
    storage_class_mapping: tuple[str, ...],
    existing_resource_policy: str | None,
) -> dict[str, Any]:
    """The `RestoreSpec` fields the flags of `_restore_spec_options` give."""
    return {
        "existing_resource_policy": existing_resource_policy,
        "namespace_mapping": _pairs(namespace_mapping, "--namespace-mapping"),
        "storage_class_mapping": _pairs(storage_class_mapping, "--storage-class-mapping"),
    }


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            raise click.BadParameter(f"{value!r} is not OLD=NEW", param_hint=flag)
        pairs[old] = new
    return pairs


def _started(run: Run[Any, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"workflow_id": run.workflow_id, "ui_url": run.ui_url}))
    else:
        _err.print(f"Started [bold]{run.workflow_id}[/]")
        if run.ui_url:
            _err.print(f"Temporal UI: {run.ui_url}")


def print_recovery_point(p: RecoveryPoint) -> None:
    colour = "green" if p.status is RecoveryPointStatus.COMPLETED else "red"
    _out.print(f"Recovery point [bold]{p.id}[/] of cluster {p.cluster}: [{colour}]{p.status}[/]")
    _out.print(
        f"Created {p.created_at:%Y-%m-%d %H:%M:%S %Z}, expires {p.expires_at:%Y-%m-%d %H:%M}"
    )
    if p.snapshot_expires_at:
        _out.print(f"Volume snapshots kept until {p.snapshot_expires_at:%Y-%m-%d %H:%M}")
    objects = sum(p.resource_counts.values())
    _out.print(f"Resources: {objects} objects in {len(p.resource_counts)} types")
    table = Table(title="Volumes")
    for column in ("namespace/pvc", "class", "method", "status", "files", "bytes"):
        table.add_column(column)
    for v in p.volumes:
        table.add_row(
            f"{v.namespace}/{v.pvc}",
            v.storage_class or "-",
            v.method.value,
            v.status.value,
            str(v.files),
            _size(v.bytes_total),
        )
    _out.print(table)
    for v in p.volumes:
        why = f"[red]{v.error}[/]" if v.error else v.reason
        _out.print(f"  {v.namespace}/{v.pvc}: {v.method.value}, {why}")
    for warning in p.warnings:
        _out.print(f"[yellow]warning:[/] {warning}")


def print_restore(result: RestoreRunResult) -> None:
    colour = "green" if result.status is RestoreStatus.COMPLETED else "red"
    _out.print(
        f"Restore of [bold]{result.recovery_point}[/] into {result.target_cluster}: "
        f"[{colour}]{result.status}[/]"
    )
    _out.print(", ".join(f"{n} {outcome}" for outcome, n in result.counts.items()))
    for obj in result.objects:
        if obj.outcome.value == "failed":
            _out.print(f"[red]failed[/] {obj.ref}: {obj.reason}")
    table = Table(title="Volumes")
    for column in ("namespace/pvc", "outcome", "node", "files", "bytes", "reason"):
        table.add_column(column)
    for v in result.volumes:
        table.add_row(
            f"{v.namespace}/{v.pvc}",
            v.outcome.value,
            v.node or "-",
            str(v.files),
            _size(v.bytes_written),
            v.reason or "",
        )
    _out.print(table)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"


@click.group()
def migrate() -> None:
    """Back up a cluster and restore it into another, as one run."""


@migrate.command("run")
@config_option
@_request_option
@click.option("--source-cluster", help="Cluster to back up.")
@click.option("--target-cluster", help="Cluster to restore into.")
@click.option("--namespace", "namespaces", multiple=True, help="Namespace glob to migrate.")
@_restore_spec_options
@_wait_option
@_json_option
def migrate_run(
    config_path: Path | None,
    request_file: Any,
    source_cluster: str | None,
    target_cluster: str | None,
    namespaces: tuple[str, ...],
    namespace_mapping: tuple[str, ...],
    storage_class_mapping: tuple[str, ...],
    existing_resource_policy: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Migrate a selection of one cluster into another (a MigrationRequest)."""
    restore = _restore_spec(namespace_mapping, storage_class_mapping, existing_resource_policy)
    overrides: dict[str, Any] = {
        "source_cluster": source_cluster,
        "target_cluster": target_cluster,
        "restore": {k: v for k, v in restore.items() if v not in (None, {})},
    }
    if namespaces:
        overrides["selection"] = {"include_namespaces": list(namespaces)}
    request = _request(MigrationRequest, request_file, overrides)
    result = _start_and_follow(
        config_path,
        lambda lifeboat: lifeboat.start_migration(request),
        f"migrate {request.source_cluster} to {request.target_cluster}",
        wait=wait,
        as_json=as_json,
    )
    if result is None:
        return
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        print_recovery_point(result.recovery_point)
        print_restore(result.restore)
        if result.pruned.removed:
            _out.print(f"Removed from the target: {', '.join(result.pruned.removed)}")
    if result.status is not MigrationStatus.COMPLETED:
        sys.exit(1)
