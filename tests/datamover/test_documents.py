"""Catalog documents are ordinary snapshots: restic can list and dump them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from datamover.backend import open_backend
from datamover.documents import load_document, save_documents
from datamover.repository import Repository

PASSWORD = "documents-test-password"


def test_documents_round_trip_and_restic_dumps_them(tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    big = bytes(range(256)) * 9000  # > 1 MiB: stored as several blobs
    with Repository.init(open_backend(str(repo_dir)), PASSWORD) as repo:
        snapshot_id = save_documents(
            repo,
            {"recovery-point.json": b'{"id": "rp-1"}\n', "big.bin": big},
            path="/lifeboat/catalog/rp-1",
            hostname="prod",
            tags=("lifeboat", "kind=catalog"),
        )
        assert load_document(repo, snapshot_id, "recovery-point.json") == b'{"id": "rp-1"}\n'
        assert load_document(repo, snapshot_id, "big.bin") == big
        with pytest.raises(KeyError, match="no document 'missing'"):
            load_document(repo, snapshot_id, "missing")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    restic = ["restic", "-r", str(repo_dir), "--password-file", str(password_file)]
    dumped = subprocess.run(
        [*restic, "dump", snapshot_id, "/recovery-point.json"],
        capture_output=True,
        check=True,
    )
    assert dumped.stdout == b'{"id": "rp-1"}\n'
    subprocess.run([*restic, "check", "--read-data"], capture_output=True, check=True)


def test_document_names_must_be_plain(tmp_path: Path) -> None:
    with Repository.init(open_backend(str(tmp_path / "repo")), PASSWORD) as repo:
        for bad in ("../escape", "a/b", "", ".."):
            with pytest.raises(ValueError, match="not a plain file name"):
                save_documents(repo, {bad: b"x"}, path="/p", hostname="h", tags=())
