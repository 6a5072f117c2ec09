"""Options, progress and results of backup and restore jobs: the engine's public models.

They cross process boundaries (Temporal activity arguments and heartbeats, `--json` output),
so they are pydantic models and the checkpoint stays small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datamover.chunker import ChunkerParams
from datamover.limits import DEFAULT_LIMIT_MIB, MAX_LIMIT_MIB, MIN_LIMIT_MIB
from datamover.pathfilter import PathSelection, parse_pattern
from datamover.repository import RepoCheckpoint

MemoryLimitMiB = Field(default=DEFAULT_LIMIT_MIB, ge=MIN_LIMIT_MIB, le=MAX_LIMIT_MIB)
_PROCESSES: dict[str, Any] = {"ge": 0, "le": 64}
"""Bounds of a number of worker processes (see `datamover.workerpool`): 0 for none, their
work then done by threads; None for one per CPU this process may use."""


class BackupOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    files: int = Field(default=24, ge=1, le=1024, description="files processed at once")
    processes: int | None = Field(
        default=None, **_PROCESSES, description="processes reading small files; None: per CPU"
    )
    memory_limit_mib: int = MemoryLimitMiB
    tags: tuple[str, ...] = ()
    hostname: str | None = Field(default=None, description="default: this machine's name")
    paths: tuple[str, ...] | None = Field(
        default=None, description="the snapshot's paths label; default: the source's path"
    )
    parent: str | None = Field(
        default=None,
        description="snapshot id (or prefix) whose unchanged files are not read again",
    )
    exclude: tuple[str, ...] = Field(
        default=(), description="glob patterns matched against paths relative to the source"
    )
    chunker: ChunkerParams = ChunkerParams()
    progress_interval: float = Field(default=1.0, gt=0, le=2.0)
    scan_totals: bool = Field(
        default=True,
        description="count the source's files and bytes beside the backup, for progress "
        "totals (leave it off when no one sees them: it walks the tree a second time)",
    )


class FinishedWork(BaseModel):
    """What the interrupted run had finished, so a resumed run need not read it again.

    Only hints: a resumed run takes a file or directory from here only when it is unchanged
    on disk and every blob it names is stored (adopted from the checkpoint's packs), exactly
    as it takes unchanged files from a parent snapshot. Bounded, so a checkpoint stays small.
    """

    dirs: dict[str, str] = Field(
        default={}, description="relative path of a finished directory -> its tree id (hex)"
    )
    files: dict[str, dict[str, Any]] = Field(
        default={},
        description="relative path of a finished file in an unfinished directory -> its "
        "node as restic's JSON",
    )


class BackupCheckpoint(BaseModel):
    """What a backup needs to resume: the repository data that is durably stored, and
    what the run had finished reading."""

    repo: RepoCheckpoint
    taken_at: float | None = Field(
        default=None, description="wall clock (seconds since the epoch) when it was taken"
    )
    finished: FinishedWork = FinishedWork()


class BackupProgress(BaseModel):
    files_done: int
    files_total: int | None = Field(description="None until the count of the source is done")
    dirs_done: int
    bytes_read: int
    bytes_total: int | None
    bytes_new: int = Field(description="plaintext bytes of blobs the repository did not have")
    bytes_uploaded: int
    current_file: str | None
    elapsed: float
    checkpoint: BackupCheckpoint | None = None


class BackupResult(BaseModel):
    snapshot_id: str
    tree: str
    files: int
    files_unmodified: int = Field(description="files taken from the parent without reading")
    dirs: int
    bytes_read: int
    bytes_new: int
    bytes_uploaded: int
    bytes_total: int = Field(default=0, description="size of the files in the snapshot")
    duration: float
    warnings: list[str] = []


class RestoreOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    files: int = Field(default=8, ge=1, le=1024, description="packs downloaded at once")
    """As restic's 8 download workers. A range is a whole pack (see `restorer._RANGE_SIZES`):
    16 at once filled memory with downloads waiting for the writers (peak RSS 405 MiB
    against 250 with 6, restoring the 1 GiB benchmark no faster)."""
    processes: int | None = Field(
        default=None, **_PROCESSES, description="processes writing small files; None: per CPU"
    )
    memory_limit_mib: int = MemoryLimitMiB
    path: str | None = Field(
        default=None,
        description="restore only this directory or file of the snapshot, its content "
        "straight into the target (restic's SNAPSHOT:PATH)",
    )
    include: list[str] = Field(
        default=[], description="restic patterns: restore only what they match, at its path"
    )
    exclude: list[str] = Field(default=[], description="restic patterns: restore all but these")
    ignore_case_include: list[str] = Field(default=[], description="include, ignoring case")
    ignore_case_exclude: list[str] = Field(default=[], description="exclude, ignoring case")
    owner: bool | None = Field(
        default=None, description="apply uid/gid; default: when running as root"
    )

    @field_validator("include", "exclude", "ignore_case_include", "ignore_case_exclude")
    @classmethod
    def _patterns_parse(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            parse_pattern(pattern)  # PatternError (a ValueError) names the pattern
        return patterns

    @model_validator(mode="after")
    def _include_or_exclude(self) -> RestoreOptions:
        if (self.include or self.ignore_case_include) and (
            self.exclude or self.ignore_case_exclude
        ):
            raise ValueError("include and exclude patterns are mutually exclusive (as in restic)")
        return self

    def selection(self) -> PathSelection | None:
        """What the patterns select; None when they select everything."""
        return PathSelection.of(
            self.include, self.exclude, self.ignore_case_include, self.ignore_case_exclude
        )


class RestoreProgress(BaseModel):
    files_done: int
    files_total: int
    bytes_written: int
    bytes_total: int
    elapsed: float


class RestoreResult(BaseModel):
    snapshot_id: str
    files: int
    dirs: int
    symlinks: int
    bytes_written: int
    duration: float
    errors: list[str] = Field(default=[], description="files that could not be restored")
    warnings: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.errors


BackupProgressCallback = Callable[[BackupProgress], None]
RestoreProgressCallback = Callable[[RestoreProgress], None]
