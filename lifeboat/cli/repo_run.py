"""What each `lifeboat repo` command does, once `lifeboat.cli.repo` has parsed it.

Kept apart from the command line so that module stays light: a command starts its key
derivation before this one (the data mover, boto3) is imported. What only one command
needs (check, forget and gc, stats) is imported by that command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from datamover.api import backup as run_backup
from datamover.api import restore as run_restore
from datamover.atomicfile import write_atomically
from datamover.backend import open_backend
from datamover.jobs import (
    BackupCheckpoint,
    BackupOptions,
    BackupProgress,
    RestoreOptions,
    RestoreProgress,
)
from datamover.repository import Repository
from lifeboat.cli.repo_output import ProgressDisplay, print_snapshots
from lifeboat.cli.repo_session import RepoSession

EXIT_FAILURE = 1
EXIT_INCOMPLETE = 3  # as restic: the command ran, but some files could not be read/written


@contextmanager
def open_repository(
    session: RepoSession, *, pack_size_mib: int = 16, index_later: bool = False
) -> Iterator[Repository]:
    backend = open_backend(session.location)
    repo = Repository.open(
        backend,
        session.password,
        pack_size=pack_size_mib * 1024 * 1024,
        cache=session.cache,
        early_key=session.early_key,
        index_later=index_later,
    )
    try:
        yield repo
    finally:
        repo.close()


def init(session: RepoSession) -> None:
    backend = open_backend(session.location)
    repository = Repository.init(backend, session.password, cache=session.cache)
    repo_id = repository.config.id
    repository.close()
    _emit(
        session,
        {"message_type": "initialized", "id": repo_id, "repository": backend.location},
        f"created repository {repo_id[:10]} at {backend.location}",
    )


def backup(
    session: RepoSession,
    directory: str,
    *,
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
) -> None:
    display = ProgressDisplay.for_backup(enabled=not session.settings.json_output)
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
            write_atomically(checkpoint_file, progress.checkpoint.model_dump_json().encode())

    with open_repository(session, pack_size_mib=pack_size) as repository, display:
        result = run_backup(
            repository, directory, options, progress=on_progress, resume_from=resume_from
        )
    _emit_run(
        session,
        result,
        result.warnings,
        f"snapshot {result.snapshot_id[:8]} saved: {result.files} files "
        f"({result.files_unmodified} unmodified), {result.dirs} dirs, "
        f"{_size(result.bytes_read)} read, {_size(result.bytes_new)} new, "
        f"{_size(result.bytes_uploaded)} uploaded in {result.duration:.1f}s",
    )


def restore(
    session: RepoSession,
    snapshot: str,
    *,
    target: str,
    path: str | None,
    files: int,
    processes: int | None,
    memory_limit: int,
    **patterns: tuple[str, ...],
) -> int:
    """Returns the exit code: EXIT_INCOMPLETE if some files could not be restored.
    `patterns`: RestoreOptions' include, exclude and their ignore-case forms."""
    options = RestoreOptions(
        files=files,
        processes=processes,
        memory_limit_mib=memory_limit,
        path=path,
        **{name: list(given) for name, given in patterns.items()},
    )
    display = ProgressDisplay.for_restore(enabled=not session.settings.json_output)

    def on_progress(progress: RestoreProgress) -> None:
        display.restore(progress)

    with open_repository(session, index_later=True) as repository, display:
        result = run_restore(repository, snapshot, target, options, progress=on_progress)
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    _emit_run(
        session,
        result,
        result.warnings,
        f"restored snapshot {result.snapshot_id[:8]} to {target}: {result.files} files, "
        f"{result.dirs} dirs, {result.symlinks} symlinks, {_size(result.bytes_written)} "
        f"in {result.duration:.1f}s",
    )
    return 0 if result.ok else EXIT_INCOMPLETE


def snapshots(session: RepoSession, *, tags: tuple[str, ...], host: str | None) -> None:
    with open_repository(session) as repository:
        found = [
            (snapshot_id, snapshot)
            for snapshot_id, snapshot in repository.list_snapshots()
            if snapshot.has_tags(list(tags)) and (host is None or snapshot.hostname == host)
        ]
    found.sort(key=lambda item: item[1].time.unix_ns)
    if session.settings.json_output:
        click.echo(
            json.dumps(
                [{**json.loads(s.to_json()), "id": sid, "short_id": sid[:8]} for sid, s in found]
            )
        )
    else:
        print_snapshots(found)


def check(session: RepoSession, *, read_data: bool, percent: float | None) -> int:
    """Returns the exit code: EXIT_FAILURE if the check found errors."""
    with open_repository(session) as repository:
        from datamover.check import check as check_repository

        result = check_repository(repository, read_data=read_data, read_data_percent=percent)
    if session.settings.json_output:
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
    return 0 if result.ok else EXIT_FAILURE


def forget(session: RepoSession, *, snapshot_ids: tuple[str, ...], tags: tuple[str, ...]) -> None:
    with open_repository(session) as repository:
        from datamover.prune import forget as forget_snapshots

        result = forget_snapshots(repository, snapshot_ids=snapshot_ids, tags=tags)
    _emit(
        session,
        result,
        "\n".join(f"removed snapshot {sid[:8]}" for sid in result.removed)
        or "no snapshots matched",
    )


def gc(session: RepoSession, *, margin: timedelta, margin_text: str, dry_run: bool) -> None:
    with open_repository(session) as repository:
        from datamover.prune import gc as collect_garbage

        result = collect_garbage(repository, safety_margin=margin, dry_run=dry_run)
    _emit(
        session,
        result,
        f"{'would free' if dry_run else 'freed'} {_size(result.bytes_freed)}: "
        f"{result.packs_deleted} packs deleted, {result.packs_repacked} repacked, "
        f"{result.packs_kept_young} kept (younger than {margin_text})",
    )


def stats(session: RepoSession) -> None:
    with open_repository(session) as repository:
        from datamover.stats import repository_stats

        result = repository_stats(repository)
    _emit(
        session,
        result,
        f"snapshots: {result.snapshots}\npacks: {result.packs} ({_size(result.stored_bytes)})\n"
        f"blobs: {result.data_blobs} data, {result.tree_blobs} tree "
        f"({_size(result.uncompressed_bytes)} uncompressed)\n"
        f"snapshot contents: {_size(result.logical_bytes)} "
        f"(dedup {result.dedup_ratio}x, compression {result.compression_ratio}x)",
    )


def _emit_run(session: RepoSession, result: BaseModel, warnings: list[str], text: str) -> None:
    """A backup's or restore's warnings on stderr, then its result."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    _emit(session, result, text)


def _emit(session: RepoSession, model: BaseModel | list[Any] | dict[str, Any], text: str) -> None:
    if session.settings.json_output:
        if isinstance(model, BaseModel):
            click.echo(model.model_dump_json())
        else:
            click.echo(json.dumps(model))
    else:
        click.echo(text)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"
