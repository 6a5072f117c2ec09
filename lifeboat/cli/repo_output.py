"""Human output of `lifeboat repo`: progress bars on a terminal's stderr, snapshot tables.

rich is imported only when something is drawn: a backup whose output goes to a file or a
pipe does not pay for it (~0.05 s).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

from datamover.jobs import BackupProgress, RestoreProgress
from datamover.snapshots import Snapshot

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressDisplay:
    """A byte progress bar with a files counter; silent unless stderr is a terminal."""

    def __init__(self, verb: str, *, enabled: bool) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn(f"{verb} [progress.description]{{task.description}}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._progress.add_task("", total=None)

    @property
    def shown(self) -> bool:
        """Whether a progress bar is shown (on a terminal), so totals are worth counting."""
        return self._progress is not None

    @classmethod
    def for_backup(cls, *, enabled: bool) -> ProgressDisplay:
        return cls("backup", enabled=enabled)

    @classmethod
    def for_restore(cls, *, enabled: bool) -> ProgressDisplay:
        return cls("restore", enabled=enabled)

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def backup(self, progress: BackupProgress) -> None:
        total = f"/{progress.files_total}" if progress.files_total is not None else ""
        self._update(
            f"{progress.files_done}{total} files",
            progress.bytes_read,
            progress.bytes_total,
        )

    def restore(self, progress: RestoreProgress) -> None:
        self._update(
            f"{progress.files_done}/{progress.files_total} files",
            progress.bytes_written,
            progress.bytes_total,
        )

    def _update(self, description: str, completed: int, total: int | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, description=description, completed=completed, total=total
            )


def print_snapshots(snapshots: list[tuple[str, Snapshot]]) -> None:
    """A table like `restic snapshots`."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("ID", "Time", "Host", "Tags", "Paths"):
        table.add_column(column)
    for snapshot_id, snapshot in snapshots:
        table.add_row(
            snapshot_id[:8],
            snapshot.time.to_datetime().strftime("%Y-%m-%d %H:%M:%S"),
            snapshot.hostname,
            ",".join(snapshot.tags or []),
            "\n".join(snapshot.paths),
        )
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(f"{len(snapshots)} snapshots")
