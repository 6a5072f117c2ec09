"""`lifeboat repo`: the data mover's repository commands, spelled like restic's.

A repository string works in either tool: `-r/--repo` takes a local path or
`s3:http(s)://host:port/bucket/prefix` (credentials from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY); the password comes from LIFEBOAT_PASSWORD or `--password-file`.
Failures print one line on stderr and exit non-zero; nothing secret is printed.

This module is only the command line, and imports little. Each command first starts its
key derivation (`RepoSession.start`), then imports its work from `lifeboat.cli.repo_run`:
scrypt's half second then passes on another CPU while the data mover and boto3 load.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from datamover.errors import DatamoverError
from datamover.limits import (
    DEFAULT_GC_SAFETY_MARGIN,
    DEFAULT_LIMIT_MIB,
    MAX_LIMIT_MIB,
    MIN_LIMIT_MIB,
)
from lifeboat.cli.repo_session import RepoContext, RepoSession
from lifeboat.logging_setup import configure_logging

P = ParamSpec("P")
R = TypeVar("R")


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
    func = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="LIFEBOAT_CACHE_DIR",
        help="local cache of key files and tree packs (default: ~/.cache/lifeboat)",
    )(func)
    func = click.option("--no-cache", is_flag=True, help="use no local cache")(func)
    return func


def _session(ctx: click.Context, options: dict[str, Any], *, derive: bool = True) -> RepoSession:
    """Take the common options (`RepoContext`'s fields) out of a command's `options`,
    merged over those given before the command's name, and start the session."""
    given = {field.name: options.pop(field.name) for field in dataclasses.fields(RepoContext)}
    base: RepoContext = ctx.find_object(RepoContext) or RepoContext()
    update = {k: v for k, v in given.items() if v not in (None, False)}
    return RepoSession.start(dataclasses.replace(base, **update), derive=derive)


def _fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the data mover's errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (DatamoverError, ValueError) as exc:
            from pydantic import ValidationError  # (loaded by then: the options are models)

            if isinstance(exc, ValidationError):  # options the data mover refused
                from lifeboat.models.errors import format_validation_error

                raise click.UsageError(format_validation_error(exc)) from None
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


@click.group()
@_common_options
@click.pass_context
def repo(ctx: click.Context, /, **given: Any) -> None:
    """Repositories in restic's format: back up and restore directories, list, check, prune."""
    ctx.obj = RepoContext(**given)


_memory_limit_option = click.option(
    "--memory-limit",
    type=click.IntRange(MIN_LIMIT_MIB, MAX_LIMIT_MIB),
    default=DEFAULT_LIMIT_MIB,
    help="memory limit, MiB; the data mover stays under it",
)
_GC_MARGIN = f"{DEFAULT_GC_SAFETY_MARGIN / timedelta(hours=1):g}"
"""The default gc margin in hours, for the help."""

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
    session = _session(ctx, given, derive=False)
    from lifeboat.cli import repo_run

    repo_run.init(session)


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
@_memory_limit_option
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
def backup(ctx: click.Context, /, directory: str, **options: Any) -> None:
    """Back up DIRECTORY into a new snapshot."""
    session = _session(ctx, options)
    from lifeboat.cli import repo_run

    repo_run.backup(session, directory, **options)


def _pattern_option(*names: str, help: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """restic's include or exclude patterns (checked by `RestoreOptions`)."""
    return click.option(*names, multiple=True, metavar="PATTERN", help=help)


@repo.command()
@_common_options
@click.argument("snapshot")
@click.option("--target", "-t", required=True, type=click.Path(file_okay=False))
@_pattern_option(
    "--include", "-i", help="restore only what matches, at its path (restic's patterns; repeatable)"
)
@_pattern_option("--exclude", "-e", help="restore all but what matches (repeatable)")
@_pattern_option("--iinclude", "ignore_case_include", help="--include, ignoring case")
@_pattern_option("--iexclude", "ignore_case_exclude", help="--exclude, ignoring case")
@click.option("--files", type=click.IntRange(1, 1024), default=8, help="packs read at once")
@_processes_option
@_memory_limit_option
@click.pass_context
@_fail_cleanly
def restore(ctx: click.Context, /, snapshot: str, **options: Any) -> None:
    """Restore SNAPSHOT (an id, a prefix or `latest`) into --target; SNAPSHOT:PATH restores
    the directory or file at PATH inside it, its content straight into --target."""
    session = _session(ctx, options)
    from lifeboat.cli import repo_run

    snapshot, _, path = snapshot.partition(":")
    code = repo_run.restore(session, snapshot, path=path or None, **options)
    if code:
        ctx.exit(code)


@repo.command()
@_common_options
@click.option("--tag", "tags", multiple=True, help="only snapshots with this tag")
@click.option("--host", help="only snapshots of this host")
@click.pass_context
@_fail_cleanly
def snapshots(ctx: click.Context, /, tags: tuple[str, ...], host: str | None, **given: Any) -> None:
    """List snapshots."""
    session = _session(ctx, given)
    from lifeboat.cli import repo_run

    repo_run.snapshots(session, tags=tags, host=host)


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
    percent = _percent(read_data_subset) if read_data_subset else None
    session = _session(ctx, given)
    from lifeboat.cli import repo_run

    code = repo_run.check(session, read_data=read_data, percent=percent)
    if code:
        ctx.exit(code)


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
    if not snapshot_ids and not tags:
        raise click.UsageError("name snapshots or give --tag")
    session = _session(ctx, given)
    from lifeboat.cli import repo_run

    repo_run.forget(session, snapshot_ids=snapshot_ids, tags=tags)


@repo.command()
@_common_options
@click.option(
    "--safety-margin",
    metavar="DURATION",
    help=f"never delete packs younger than this (30m, 2h, 1d, P1D; default: {_GC_MARGIN}h)",
)
@click.option("--dry-run", "-n", is_flag=True, help="only report what would be freed")
@click.pass_context
@_fail_cleanly
def gc(ctx: click.Context, /, safety_margin: str | None, dry_run: bool, **given: Any) -> None:
    """Delete data that no snapshot uses, under an exclusive lock."""
    from lifeboat.models.duration import format_duration, parse_duration

    margin = DEFAULT_GC_SAFETY_MARGIN
    if safety_margin is not None:
        try:
            margin = parse_duration(safety_margin)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--safety-margin'") from None
    session = _session(ctx, given)
    from lifeboat.cli import repo_run

    repo_run.gc(session, margin=margin, margin_text=format_duration(margin), dry_run=dry_run)


@repo.command()
@_common_options
@click.pass_context
@_fail_cleanly
def stats(ctx: click.Context, /, **given: Any) -> None:
    """Show how much the repository stores, and its dedup and compression ratios."""
    session = _session(ctx, given)
    from lifeboat.cli import repo_run

    repo_run.stats(session)


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a percentage like 10%") from None
    if not 0 < value <= 100:
        raise click.BadParameter("the percentage must be in (0, 100]")
    return value


if __name__ == "__main__":  # `python -m lifeboat.cli.repo`: the group alone (tests use it)
    configure_logging("warning")
    repo(prog_name="lifeboat repo")
