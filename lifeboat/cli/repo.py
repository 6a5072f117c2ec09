"""`lifeboat repo`: the data mover's repository commands, spelled like restic's.

A repository string works in either tool: `-r/--repo` takes a local path or
`s3:http(s)://host:port/bucket/prefix` (credentials from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY); the password comes from LIFEBOAT_PASSWORD or `--password-file`.
Failures print one line on stderr and exit non-zero; nothing secret is printed.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from pydantic import BaseModel

from datamover.api import backup as run_backup
from datamover.api import restore as run_restore
from datamover.backend import open_backend
from datamover.check import check as check_repository
from datamover.errors import DatamoverError
from datamover.jobs import (
    BackupCheckpoint,
    BackupOptions,
    BackupProgress,
    RestoreOptions,
    RestoreProgress,
)
from datamover.prune import forget as forget_snapshots
from datamover.prune import gc as collect_garbage
from datamover.repository import Repository
from datamover.stats import repository_stats
from lifeboat.cli.repo_output import ProgressDisplay, print_snapshots
from lifeboat.logging_setup import configure_logging, register_secret

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_INCOMPLETE = 3  # as restic: the command ran, but some files could not be read/written


class RepoContext(BaseModel):
    repo: str | None = None
    password_file: Path | None = None
    json_output: bool = False


def _common_options(func: Callable[P, R]) -> Callable[P, R]:
    """-r/--repo, --password-file and --json, accepted before or after the subcommand."""
    func = click.option(
        "-r",
        "--repo",
        "repo",
        envvar=["LIFEBOAT_REPOSITORY", "RESTIC_REPOSITORY"],
        help="repository: a local path or s3:http(s)://host:port/bucket/prefix",
    )(func)
    func = click.option(
        "--password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="LIFEBOAT_PASSWORD_FILE",
        help="read the repository password from this file (default: $LIFEBOAT_PASSWORD)",
    )(func)
    func = click.option("--json", "json_output", is_flag=True, help="machine-readable output")(func)
    return func


def _settings(ctx: click.Context, **given: Any) -> RepoContext:
    base: RepoContext = ctx.find_object(RepoContext) or RepoContext()
    update = {k: v for k, v in given.items() if v not in (None, False)}
    return base.model_copy(update=update)


def _password(settings: RepoContext) -> str:
    if settings.password_file is not None:
        try:
            from_file = settings.password_file.read_text().rstrip("\r\n")
            register_secret(from_file)
            return from_file
        except OSError as exc:
            raise click.ClickException(
                f"cannot read the password file {settings.password_file}: {exc.strerror}"
            ) from exc
    password = os.environ.get("LIFEBOAT_PASSWORD") or os.environ.get("RESTIC_PASSWORD")
    if not password:
        raise click.ClickException("no password: set LIFEBOAT_PASSWORD or use --password-file")
    register_secret(password)
    return password


def _location(settings: RepoContext) -> str:
    if not settings.repo:
        raise click.ClickException("no repository: use -r/--repo or set LIFEBOAT_REPOSITORY")
    return settings.repo


@contextmanager
def _open_repository(settings: RepoContext, *, pack_size_mib: int = 16) -> Iterator[Repository]:
    backend = open_backend(_location(settings))
    repo = Repository.open(backend, _password(settings), pack_size=pack_size_mib * 1024 * 1024)
    try:
        yield repo
    finally:
        repo.close()


def _fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the data mover's errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (DatamoverError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def _emit(settings: RepoContext, model: BaseModel | list[Any] | dict[str, Any], text: str) -> None:
    if settings.json_output:
        if isinstance(model, BaseModel):
            click.echo(model.model_dump_json())
        else:
            click.echo(json.dumps(model))
    else:
        click.echo(text)


@click.group()
@_common_options
@click.pass_context
def repo(
    ctx: click.Context, repo: str | None, password_file: Path | None, json_output: bool
) -> None:
    """Repositories in restic's format: back up and restore directories, list, check, prune."""
    ctx.obj = RepoContext(repo=repo, password_file=password_file, json_output=json_output)


_processes_option = click.option(
    "--processes",
    type=click.IntRange(0, 64),
    help="worker processes for small files (default: one per CPU; 0: none)",
)


@repo.command()
@_common_options
@click.pass_context
@_fail_cleanly
def init(ctx: click.Context, /, **given: Any) -> None:
    """Create a new repository."""
    settings = _settings(ctx, **given)
    backend = open_backend(_location(settings))
    repository = Repository.init(backend, _password(settings))
    repo_id = repository.config.id
    repository.close()
    _emit(
        settings,
        {"message_type": "initialized", "id": repo_id, "repository": backend.location},
        f"created repository {repo_id[:10]} at {backend.location}",
    )


@repo.command()
@_common_options
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--tag", "tags", multiple=True, help="add a tag (repeatable)")
@click.option("--host", help="hostname recorded in the snapshot (default: this machine)")
@click.option("--path-label", help="path recorded in the snapshot (default: DIRECTORY)")
@click.option("--parent", help="parent snapshot (default: latest with same path and host)")
@click.option("--force", is_flag=True, help="read every file, ignore the parent snapshot")
@click.option("--exclude", "excludes", multiple=True, help="glob of relative paths to skip")
@click.option("--files", type=click.IntRange(1, 1024), default=24, help="files read at once")
@_processes_option
@click.option(
    "--memory-limit", type=click.IntRange(512, 8192), default=1024, help="memory limit, MiB"
)
@click.option("--pack-size", type=click.IntRange(1, 128), default=16, help="target pack MiB")
@click.option(
    "--checkpoint-interval",
    type=click.FloatRange(0.05, 2.0),
    default=1.0,
    help="seconds between progress reports and checkpoints",
)
@click.option(
    "--checkpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the latest checkpoint to this file while the backup runs",
)
@click.option(
    "--resume",
    "resume_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="resume from a checkpoint file written by an earlier, interrupted run",
)
@click.pass_context
@_fail_cleanly
def backup(
    ctx: click.Context,
    /,
    directory: str,
    tags: tuple[str, ...],
    host: str | None,
    path_label: str | None,
    parent: str | None,
    force: bool,
    excludes: tuple[str, ...],
    files: int,
    processes: int | None,
    memory_limit: int,
    pack_size: int,
    checkpoint_interval: float,
    checkpoint_file: Path | None,
    resume_file: Path | None,
    **given: Any,
) -> None:
    """Back up DIRECTORY into a new snapshot."""
    settings = _settings(ctx, **given)
    display = ProgressDisplay.for_backup(enabled=not settings.json_output)
    options = BackupOptions(
        files=files,
        processes=processes,
        memory_limit_mib=memory_limit,
        tags=tags,
        hostname=host,
        paths=(path_label,) if path_label else None,
        parent=None if force else (parent or "latest"),
        exclude=excludes,
        progress_interval=checkpoint_interval,
        scan_totals=display.shown,
    )
    resume_from = (
        BackupCheckpoint.model_validate_json(resume_file.read_bytes()) if resume_file else None
    )

    def on_progress(progress: BackupProgress) -> None:
        display.backup(progress)
        if checkpoint_file is not None and progress.checkpoint is not None:
            _write_atomically(checkpoint_file, progress.checkpoint.model_dump_json().encode())

    with _open_repository(settings, pack_size_mib=pack_size) as repository, display:
        result = run_backup(
            repository, directory, options, progress=on_progress, resume_from=resume_from
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    _emit(
        settings,
        result,
        f"snapshot {result.snapshot_id[:8]} saved: {result.files} files "
        f"({result.files_unmodified} unmodified), {result.dirs} dirs, "
        f"{_size(result.bytes_read)} read, {_size(result.bytes_new)} new, "
        f"{_size(result.bytes_uploaded)} uploaded in {result.duration:.1f}s",
    )


@repo.command()
@_common_options
@click.argument("snapshot")
@click.option("--target", "-t", required=True, type=click.Path(file_okay=False))
@click.option("--include", help="restore only this path inside the snapshot")
@click.option("--files", type=click.IntRange(1, 1024), default=16, help="packs read at once")
@_processes_option
@click.option(
    "--memory-limit", type=click.IntRange(512, 8192), default=1024, help="memory limit, MiB"
)
@click.pass_context
@_fail_cleanly
def restore(
    ctx: click.Context,
    /,
    snapshot: str,
    target: str,
    include: str | None,
    files: int,
    processes: int | None,
    memory_limit: int,
    **given: Any,
) -> None:
    """Restore SNAPSHOT (an id, a prefix or `latest`) into --target."""
    settings = _settings(ctx, **given)
    options = RestoreOptions(
        files=files, processes=processes, memory_limit_mib=memory_limit, include=include
    )
    display = ProgressDisplay.for_restore(enabled=not settings.json_output)

    def on_progress(progress: RestoreProgress) -> None:
        display.restore(progress)

    with _open_repository(settings) as repository, display:
        result = run_restore(repository, snapshot, target, options, progress=on_progress)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    _emit(
        settings,
        result,
        f"restored snapshot {result.snapshot_id[:8]} to {target}: {result.files} files, "
        f"{result.dirs} dirs, {result.symlinks} symlinks, {_size(result.bytes_written)} "
        f"in {result.duration:.1f}s",
    )
    if not result.ok:
        ctx.exit(EXIT_INCOMPLETE)


@repo.command()
@_common_options
@click.option("--tag", "tags", multiple=True, help="only snapshots with this tag")
@click.option("--host", help="only snapshots of this host")
@click.pass_context
@_fail_cleanly
def snapshots(ctx: click.Context, /, tags: tuple[str, ...], host: str | None, **given: Any) -> None:
    """List snapshots."""
    settings = _settings(ctx, **given)
    with _open_repository(settings) as repository:
        found = [
            (snapshot_id, snapshot)
            for snapshot_id, snapshot in repository.list_snapshots()
            if snapshot.has_tags(list(tags)) and (host is None or snapshot.hostname == host)
        ]
    found.sort(key=lambda item: item[1].time.unix_ns)
    if settings.json_output:
        click.echo(
            json.dumps(
                [{**json.loads(s.to_json()), "id": sid, "short_id": sid[:8]} for sid, s in found]
            )
        )
    else:
        print_snapshots(found)


@repo.command()
@_common_options
@click.option("--read-data", is_flag=True, help="download and verify every pack")
@click.option(
    "--read-data-subset",
    metavar="PERCENT%",
    help="download and verify a random share of the packs, e.g. 10%",
)
@click.pass_context
@_fail_cleanly
def check(
    ctx: click.Context, /, read_data: bool, read_data_subset: str | None, **given: Any
) -> None:
    """Check the repository's structure, and with --read-data its content."""
    settings = _settings(ctx, **given)
    percent = _percent(read_data_subset) if read_data_subset else None
    with _open_repository(settings) as repository:
        result = check_repository(repository, read_data=read_data, read_data_percent=percent)
    if settings.json_output:
        click.echo(result.model_dump_json())
    else:
        for problem in result.problems:
            click.echo(f"error: {problem.message}", err=True)
        if result.unindexed_packs:
            click.echo(
                f"{len(result.unindexed_packs)} packs not in any index "
                "(left by an interrupted backup; gc removes them)"
            )
        click.echo(
            f"checked {result.snapshots_checked} snapshots, {result.trees_checked} trees, "
            f"{result.packs_checked} packs ({result.packs_read} read): "
            + ("no errors were found" if result.ok else f"{len(result.problems)} errors")
        )
    if not result.ok:
        ctx.exit(EXIT_FAILURE)


@repo.command()
@_common_options
@click.argument("snapshot_ids", nargs=-1)
@click.option("--tag", "tags", multiple=True, help="forget the snapshots with all these tags")
@click.pass_context
@_fail_cleanly
def forget(
    ctx: click.Context, /, snapshot_ids: tuple[str, ...], tags: tuple[str, ...], **given: Any
) -> None:
    """Remove snapshots by id or tags (the data stays until `gc`)."""
    settings = _settings(ctx, **given)
    if not snapshot_ids and not tags:
        raise click.UsageError("name snapshots or give --tag")
    with _open_repository(settings) as repository:
        result = forget_snapshots(repository, snapshot_ids=snapshot_ids, tags=tags)
    _emit(
        settings,
        result,
        "\n".join(f"removed snapshot {sid[:8]}" for sid in result.removed)
        or "no snapshots matched",
    )


@repo.command()
@_common_options
@click.option(
    "--safety-margin",
    default="1h",
    show_default=True,
    help="never delete packs younger than this (e.g. 30m, 2h, 1d)",
)
@click.option("--dry-run", "-n", is_flag=True, help="only report what would be freed")
@click.pass_context
@_fail_cleanly
def gc(ctx: click.Context, /, safety_margin: str, dry_run: bool, **given: Any) -> None:
    """Delete data that no snapshot uses, under an exclusive lock."""
    settings = _settings(ctx, **given)
    margin = _duration(safety_margin)
    with _open_repository(settings) as repository:
        result = collect_garbage(repository, safety_margin=margin, dry_run=dry_run)
    _emit(
        settings,
        result,
        f"{'would free' if dry_run else 'freed'} {_size(result.bytes_freed)}: "
        f"{result.packs_deleted} packs deleted, {result.packs_repacked} repacked, "
        f"{result.packs_kept_young} kept (younger than {safety_margin})",
    )


@repo.command()
@_common_options
@click.pass_context
@_fail_cleanly
def stats(ctx: click.Context, /, **given: Any) -> None:
    """Show how much the repository stores, and its dedup and compression ratios."""
    settings = _settings(ctx, **given)
    with _open_repository(settings) as repository:
        result = repository_stats(repository)
    _emit(
        settings,
        result,
        f"snapshots: {result.snapshots}\npacks: {result.packs} ({_size(result.stored_bytes)})\n"
        f"blobs: {result.data_blobs} data, {result.tree_blobs} tree "
        f"({_size(result.uncompressed_bytes)} uncompressed)\n"
        f"snapshot contents: {_size(result.logical_bytes)} "
        f"(dedup {result.dedup_ratio}x, compression {result.compression_ratio}x)",
    )


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a percentage like 10%") from None
    if not 0 < value <= 100:
        raise click.BadParameter("the percentage must be in (0, 100]")
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    unit = text[-1:].lower()
    try:
        return timedelta(seconds=float(text[:-1]) * _UNITS[unit])
    except (KeyError, ValueError):
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 2h or 1d") from None


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


if __name__ == "__main__":  # `python -m lifeboat.cli.repo`: the group alone, for benchmarks
    configure_logging("warning")
    repo(prog_name="lifeboat repo")
