"""Repository check: structure (index vs packs, snapshots vs index) and, optionally,
reading pack data to verify every blob against its id."""

from __future__ import annotations

import random
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

import structlog
from pydantic import BaseModel, computed_field

from datamover.backend.base import FileType
from datamover.blobs import BlobType, PackedBlob, decode_blob
from datamover.errors import BlobCorruptedError, DatamoverError, PackCorruptedError
from datamover.ids import hash_bytes
from datamover.modes import NodeType
from datamover.pack import expected_pack_size, parse_pack_tail
from datamover.repository import Repository
from datamover.tree import Tree

log = structlog.get_logger(__name__)


class ProblemKind(StrEnum):
    MISSING_PACK = "missing_pack"
    PACK_SIZE_MISMATCH = "pack_size_mismatch"
    PACK_CORRUPTED = "pack_corrupted"
    BLOB_CORRUPTED = "blob_corrupted"
    MISSING_BLOB = "missing_blob"
    INVALID_NODE = "invalid_node"
    TREE_UNREADABLE = "tree_unreadable"
    SNAPSHOT_UNREADABLE = "snapshot_unreadable"


class CheckProblem(BaseModel):
    kind: ProblemKind
    message: str
    pack_id: str | None = None
    blob_id: str | None = None
    snapshot_id: str | None = None


class CheckResult(BaseModel):
    problems: list[CheckProblem] = []
    snapshots_checked: int = 0
    trees_checked: int = 0
    packs_checked: int = 0
    packs_read: int = 0
    blobs_read: int = 0
    unindexed_packs: list[str] = []
    """Packs no index names: left by an interrupted writer; harmless, gc removes them."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken_packs(self) -> set[str]:
        return {p.pack_id for p in self.problems if p.pack_id}


def check(
    repo: Repository,
    *,
    read_data: bool = False,
    read_data_percent: float | None = None,
    packs: Collection[str] | None = None,
    workers: int = 4,
) -> CheckResult:
    """Check the repository. With `read_data`, download and verify all packs, or a random
    `read_data_percent` of them, or exactly `packs`."""
    result = CheckResult()
    repo.index.load(repo.backend, repo.key)
    indexed = repo.index.packs()
    stored = {info.name: info.size for info in repo.backend.list(FileType.DATA)}

    for pack_id, blobs in indexed.items():
        pack_hex = pack_id.hex()
        result.packs_checked += 1
        if pack_hex not in stored:
            result.problems.append(
                CheckProblem(
                    kind=ProblemKind.MISSING_PACK,
                    message=f"pack {pack_hex} is in the index but not in the repository",
                    pack_id=pack_hex,
                )
            )
        elif stored[pack_hex] != expected_pack_size(blobs):
            result.problems.append(
                CheckProblem(
                    kind=ProblemKind.PACK_SIZE_MISMATCH,
                    message=f"pack {pack_hex} has {stored[pack_hex]} bytes, the index implies "
                    f"{expected_pack_size(blobs)}",
                    pack_id=pack_hex,
                )
            )
    indexed_hex = {pack_id.hex() for pack_id in indexed}
    result.unindexed_packs = sorted(set(stored) - indexed_hex)

    _check_snapshots(repo, result)

    if read_data or read_data_percent is not None or packs is not None:
        chosen = _choose_packs(sorted(indexed_hex & set(stored)), read_data_percent, packs)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for problems, blob_count in pool.map(
                lambda pack_hex: _read_pack(repo, pack_hex, indexed[bytes.fromhex(pack_hex)]),
                chosen,
            ):
                result.packs_read += 1
                result.blobs_read += blob_count
                result.problems.extend(problems)
    return result


def _choose_packs(
    candidates: list[str], percent: float | None, packs: Collection[str] | None
) -> list[str]:
    if packs is not None:
        wanted = set(packs)
        return [p for p in candidates if p in wanted]
    if percent is None or percent >= 100:
        return candidates
    count = max(1, round(len(candidates) * percent / 100)) if candidates else 0
    return sorted(random.sample(candidates, count))


def _check_snapshots(repo: Repository, result: CheckResult) -> None:
    seen_trees: set[bytes] = set()
    for snapshot_id in list(repo.iter_snapshot_ids()):
        try:
            _, snapshot = repo.load_snapshot(snapshot_id)
        except DatamoverError as exc:
            result.problems.append(
                CheckProblem(
                    kind=ProblemKind.SNAPSHOT_UNREADABLE,
                    message=str(exc),
                    snapshot_id=snapshot_id,
                )
            )
            continue
        result.snapshots_checked += 1
        stack = [snapshot.tree]
        while stack:
            tree_id = stack.pop()
            if tree_id in seen_trees:
                continue
            seen_trees.add(tree_id)
            if not repo.index.has(BlobType.TREE, tree_id):
                result.problems.append(
                    CheckProblem(
                        kind=ProblemKind.MISSING_BLOB,
                        message=f"tree {tree_id.hex()} is not in the index",
                        blob_id=tree_id.hex(),
                        snapshot_id=snapshot_id,
                    )
                )
                continue
            try:
                tree = repo.load_tree(tree_id)
            except DatamoverError as exc:
                result.problems.append(
                    CheckProblem(
                        kind=ProblemKind.TREE_UNREADABLE,
                        message=str(exc),
                        blob_id=tree_id.hex(),
                        pack_id=getattr(exc, "pack_id", None),
                        snapshot_id=snapshot_id,
                    )
                )
                continue
            result.trees_checked += 1
            stack.extend(_check_tree(repo, tree_id, tree, snapshot_id, result))


def _check_tree(
    repo: Repository, tree_id: bytes, tree: Tree, snapshot_id: str, result: CheckResult
) -> list[bytes]:
    subtrees: list[bytes] = []
    for node in tree.nodes:
        where = f"tree {tree_id.hex()}, node {node.name!r}"
        if node.type is NodeType.FILE:
            for blob_id in node.content or []:
                if not repo.index.has(BlobType.DATA, blob_id):
                    result.problems.append(
                        CheckProblem(
                            kind=ProblemKind.MISSING_BLOB,
                            message=f"{where}: data blob {blob_id.hex()} is not in the index",
                            blob_id=blob_id.hex(),
                            snapshot_id=snapshot_id,
                        )
                    )
        elif node.type is NodeType.DIR:
            if node.subtree is None:
                result.problems.append(
                    CheckProblem(
                        kind=ProblemKind.INVALID_NODE,
                        message=f"{where}: directory without subtree",
                        snapshot_id=snapshot_id,
                    )
                )
            else:
                subtrees.append(node.subtree)
    return subtrees


def _read_pack(
    repo: Repository, pack_hex: str, indexed_blobs: list[PackedBlob]
) -> tuple[list[CheckProblem], int]:
    """Download one pack; verify its name, its header against the index, every blob."""
    problems: list[CheckProblem] = []

    def pack_problem(reason: str) -> tuple[list[CheckProblem], int]:
        problems.append(
            CheckProblem(
                kind=ProblemKind.PACK_CORRUPTED,
                message=f"pack {pack_hex}: {reason}",
                pack_id=pack_hex,
            )
        )
        return problems, 0

    try:
        data = repo.backend.load(FileType.DATA, pack_hex)
    except DatamoverError as exc:
        return pack_problem(f"cannot be read: {exc}")
    if hash_bytes(data).hex() != pack_hex:
        problems.append(
            CheckProblem(
                kind=ProblemKind.PACK_CORRUPTED,
                message=f"pack {pack_hex}: content does not match its name",
                pack_id=pack_hex,
            )
        )
    try:
        header_blobs = parse_pack_tail(repo.key, pack_hex, data, len(data))
    except PackCorruptedError as exc:
        problems.append(
            CheckProblem(kind=ProblemKind.PACK_CORRUPTED, message=str(exc), pack_id=pack_hex)
        )
        header_blobs = []
    if header_blobs and set(header_blobs) != set(indexed_blobs):
        problems.append(
            CheckProblem(
                kind=ProblemKind.PACK_CORRUPTED,
                message=f"pack {pack_hex}: header does not match the index",
                pack_id=pack_hex,
            )
        )
    blobs = header_blobs or indexed_blobs
    view = memoryview(data)
    for blob in blobs:
        try:
            decode_blob(repo.key, pack_hex, blob, view[blob.offset : blob.offset + blob.length])
        except BlobCorruptedError as exc:
            problems.append(
                CheckProblem(
                    kind=ProblemKind.BLOB_CORRUPTED,
                    message=str(exc),
                    pack_id=pack_hex,
                    blob_id=blob.id.hex(),
                )
            )
    return problems, len(blobs)
