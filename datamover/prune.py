"""Forgetting snapshots and collecting the garbage they leave.

gc runs under an exclusive lock and follows restic's rules for removing data: new packs
first, then the new index, then the old index files, and the old packs last. A pack
younger than the safety margin is never deleted or rewritten, because a writer that was
interrupted may still adopt it from its checkpoint. Packs that are only partly used are
repacked: the still-used blobs are copied (verified, still encrypted) into new packs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

import structlog
from pydantic import BaseModel

from datamover.backend.base import FileInfo, FileType
from datamover.blobs import BlobType, PackedBlob, decode_blob
from datamover.ids import hash_bytes
from datamover.index import BlobLocation, MasterIndex, save_index_files
from datamover.limits import DEFAULT_GC_SAFETY_MARGIN
from datamover.pack import PackBuilder
from datamover.repository import Repository
from datamover.walker import reachable_blobs

log = structlog.get_logger(__name__)


class ForgetResult(BaseModel):
    removed: list[str]


class GcResult(BaseModel):
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    packs_kept_young: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    index_files_removed: int = 0
    index_files_written: int = 0
    dry_run: bool = False


def forget(
    repo: Repository,
    *,
    snapshot_ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> ForgetResult:
    """Remove snapshots named by id (or unique prefix), or all snapshots carrying every
    tag in `tags`. Data stays until `gc`."""
    if not snapshot_ids and not tags:
        raise ValueError("forget needs snapshot ids or tags")
    with repo.lock(exclusive=True):
        chosen: set[str] = set()
        for snapshot_id in snapshot_ids or []:
            chosen.add(repo.load_snapshot(snapshot_id)[0])
        if tags:
            chosen.update(name for name, snap in repo.list_snapshots() if snap.has_tags(list(tags)))
        for name in sorted(chosen):
            repo.remove_snapshot(name)
            log.info("snapshot forgotten", snapshot=name)
    return ForgetResult(removed=sorted(chosen))


def gc(
    repo: Repository,
    *,
    safety_margin: timedelta = DEFAULT_GC_SAFETY_MARGIN,
    dry_run: bool = False,
) -> GcResult:
    """Delete or repack what no snapshot reaches. Takes an exclusive lock; anything this
    session saved is flushed first so its own packs count as indexed."""
    repo.flush()
    with repo.lock(exclusive=True):
        return _collect(repo, safety_margin, dry_run)


def _collect(repo: Repository, safety_margin: timedelta, dry_run: bool) -> GcResult:
    backend = repo.backend
    index = MasterIndex()
    index.load(backend, repo.key)
    snapshots = repo.list_snapshots()
    used = reachable_blobs(repo, [snap.tree for _, snap in snapshots])

    stored: dict[str, FileInfo] = {info.name: info for info in backend.list(FileType.DATA)}
    cutoff = time.time() - safety_margin.total_seconds()
    indexed = index.packs()
    result = GcResult(dry_run=dry_run)

    keep: dict[bytes, list[PackedBlob]] = {}
    kept_blobs: set[tuple[BlobType, bytes]] = set()
    # First the packs that stay as they are: young ones and those whose blobs are all used.
    for pack_id, blobs in indexed.items():
        info = stored.get(pack_id.hex())
        if info is None:
            log.warning("indexed pack is missing; dropping it from the index", pack=pack_id.hex())
            continue
        young = info.mtime > cutoff
        if young or all((b.type, b.id) in used for b in blobs):
            keep[pack_id] = blobs
            kept_blobs.update((b.type, b.id) for b in blobs)
            result.packs_kept_young += young
    # Then the rest: delete, or repack the blobs still needed.
    delete: list[FileInfo] = []
    to_copy: list[BlobLocation] = []
    for pack_id, blobs in indexed.items():
        info = stored.get(pack_id.hex())
        if info is None or pack_id in keep:
            continue
        needed = [b for b in blobs if (b.type, b.id) in used and (b.type, b.id) not in kept_blobs]
        kept_blobs.update((b.type, b.id) for b in needed)
        to_copy.extend(BlobLocation(pack_id, b) for b in needed)
        result.blobs_removed += len(blobs) - len(needed)
        delete.append(info)
        if needed:
            result.packs_repacked += 1
        else:
            result.packs_deleted += 1
    indexed_hex = {pack_id.hex() for pack_id in indexed}
    orphans = [
        info for name, info in stored.items() if name not in indexed_hex and info.mtime <= cutoff
    ]
    result.packs_deleted += len(orphans)
    freed = sum(info.size for info in delete) + sum(info.size for info in orphans)

    if dry_run or (not delete and not orphans):
        result.bytes_freed = freed
        return result

    new_packs = _repack(repo, to_copy)
    result.packs_written = len(new_packs)
    freed -= sum(size for size, _ in new_packs.values())
    keep.update({pack_id: blobs for pack_id, (_, blobs) in new_packs.items()})

    old_index_files = sorted(index.index_files)
    written = save_index_files(backend, repo.key, keep, supersedes=old_index_files)
    result.index_files_written = len(written)
    for name in old_index_files:
        if name not in written:
            backend.remove(FileType.INDEX, name)
            result.index_files_removed += 1
    for info in [*delete, *orphans]:
        backend.remove(FileType.DATA, info.name)
    result.bytes_freed = freed

    fresh = MasterIndex()
    fresh.load(backend, repo.key)
    repo.index = fresh
    log.info("garbage collected", **result.model_dump())
    return result


def _repack(
    repo: Repository, blobs: list[BlobLocation]
) -> dict[bytes, tuple[int, list[PackedBlob]]]:
    """Copy still-used blobs into new packs (one type per pack, as format v2 requires).
    Each blob is verified before it is copied, so corruption is not carried along."""
    builders: dict[BlobType, PackBuilder] = {}
    written: dict[bytes, tuple[int, list[PackedBlob]]] = {}

    def upload(builder: PackBuilder) -> None:
        data = b"".join(builder.finish(repo.key))
        pack_id = hash_bytes(data)
        repo.backend.save(FileType.DATA, pack_id.hex(), data)
        written[pack_id] = (len(data), builder.blobs)

    for location in blobs:
        blob = location.blob
        pack_hex = location.pack_id.hex()
        sealed = repo.backend.load(FileType.DATA, pack_hex, blob.offset, blob.length)
        decode_blob(repo.key, pack_hex, blob, sealed)  # BlobCorruptedError stops gc early
        builder = builders.setdefault(blob.type, PackBuilder(blob.type))
        builder.add(blob.id, sealed, blob.uncompressed_length)
        if builder.size >= repo.pack_size:
            upload(builders.pop(blob.type))
    for builder in builders.values():
        upload(builder)
    return written
