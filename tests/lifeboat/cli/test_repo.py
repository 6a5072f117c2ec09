"""`lifeboat repo ...` as a person runs it: on the stack's S3 beside restic, and its errors."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from devstack.info import StackInfo

PASSWORD = "a password nobody may see"


def lifeboat(
    *args: str, env: dict[str, str] | None = None, limit_file_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # pragma: no cover - runs in the child
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "lifeboat.cli", "repo", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "LIFEBOAT_PASSWORD": PASSWORD, **(env or {})},
        preexec_fn=limit,
    )


def restic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["restic", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**env, "RESTIC_PASSWORD": PASSWORD},
    )


def make_tree(root: Path) -> None:
    (root / "app" / "données").mkdir(parents=True)
    (root / "app" / "données" / "table.db").write_bytes(os.urandom(3_000_000))
    (root / "app" / "config.yaml").write_text("replicas: 3\n" * 1000)
    (root / "empty").mkdir()
    os.symlink("app/config.yaml", root / "config")


def digest(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = f"dir {path.stat().st_mode:o}"
        else:
            data = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = f"{path.stat().st_mode:o} {path.stat().st_mtime_ns} {data}"
    return found


def test_repository_commands_on_s3_beside_restic(
    stack: StackInfo, s3_env: dict[str, str], tmp_path: Path
) -> None:
    repo = stack.s3.repo_string(f"cli-{uuid.uuid4().hex[:8]}")
    source = tmp_path / "source"
    make_tree(source)

    assert lifeboat("init", "-r", repo, env=s3_env).returncode == 0
    backed_up = lifeboat("backup", "-r", repo, str(source), "--tag", "pv-1", "--json", env=s3_env)
    assert backed_up.returncode == 0, backed_up.stderr
    snapshot_id = json.loads(backed_up.stdout)["snapshot_id"]

    listed = restic("-r", repo, "snapshots", "--json", env=s3_env)
    assert listed.returncode == 0, listed.stderr
    assert [s["id"] for s in json.loads(listed.stdout)] == [snapshot_id]
    checked = restic("-r", repo, "check", "--read-data", env=s3_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    ours = lifeboat("snapshots", "-r", repo, "--tag", "pv-1", "--json", env=s3_env)
    assert [s["id"] for s in json.loads(ours.stdout)] == [snapshot_id]
    by_lifeboat = tmp_path / "by-lifeboat"
    restored = lifeboat("restore", "latest", "-r", repo, "--target", str(by_lifeboat), env=s3_env)
    assert restored.returncode == 0, restored.stderr
    by_restic = tmp_path / "by-restic"
    assert (
        restic("-r", repo, "restore", "latest", "--target", str(by_restic), env=s3_env).returncode
        == 0
    )
    assert digest(by_lifeboat) == digest(source)
    assert digest(by_restic) == digest(source)

    assert lifeboat("check", "-r", repo, "--read-data", env=s3_env).returncode == 0
    stats = json.loads(lifeboat("stats", "-r", repo, "--json", env=s3_env).stdout)
    assert stats["snapshots"] == 1 and stats["stored_bytes"] > 3_000_000
    forgotten = lifeboat("forget", snapshot_id[:8], "-r", repo, "--json", env=s3_env)
    assert json.loads(forgotten.stdout)["removed"] == [snapshot_id]
    collected = lifeboat("gc", "-r", repo, "--safety-margin", "0s", "--json", env=s3_env)
    assert json.loads(collected.stdout)["bytes_freed"] > 3_000_000


def _one_clean_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr + done.stdout
    return lines[0]


def test_errors_are_one_clear_line_without_secrets(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert lifeboat("init", "-r", str(repo)).returncode == 0

    wrong = lifeboat("snapshots", "-r", str(repo), env={"LIFEBOAT_PASSWORD": "not it"})
    assert "wrong password" in _one_clean_line(wrong)

    missing = lifeboat("snapshots", "-r", str(tmp_path / "nothing-here"))
    assert "no repository" in _one_clean_line(missing)

    secret_key = "secret-key-that-must-not-leak"
    unreachable = lifeboat(
        "snapshots",
        "-r",
        "s3:http://127.0.0.1:9/bucket/prefix",
        env={"AWS_ACCESS_KEY_ID": "key-id", "AWS_SECRET_ACCESS_KEY": secret_key},
    )
    line = _one_clean_line(unreachable)
    assert "cannot reach http://127.0.0.1:9" in line and secret_key not in line

    no_password = lifeboat("snapshots", "-r", str(repo), env={"LIFEBOAT_PASSWORD": ""})
    assert "password" in _one_clean_line(no_password)


def test_gc_keeps_young_packs_by_default_and_reads_durations_as_lifeboat_does(
    tmp_path: Path,
) -> None:
    repo, source = tmp_path / "repo", tmp_path / "source"
    source.mkdir()
    (source / "data").write_bytes(os.urandom(500_000))
    assert lifeboat("init", "-r", str(repo)).returncode == 0
    backup = lifeboat("backup", "-r", str(repo), str(source), "--json")
    assert (
        lifeboat("forget", "-r", str(repo), json.loads(backup.stdout)["snapshot_id"]).returncode
        == 0
    )
    packs = sorted((repo / "data").rglob("*"))

    refused = lifeboat("gc", "-r", str(repo), "--safety-margin", "1x")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Invalid value for '--safety-margin': '1x' is not a duration" in refused.stderr
    assert "30d, 12h, 90m" in refused.stderr
    assert sorted((repo / "data").rglob("*")) == packs

    # The data mover's default margin (an hour) keeps the pack just written.
    kept = json.loads(lifeboat("gc", "-r", str(repo), "--json").stdout)
    assert kept["packs_kept_young"] >= 1 and kept["bytes_freed"] == 0
    assert sorted((repo / "data").rglob("*")) == packs

    freed = json.loads(lifeboat("gc", "-r", str(repo), "--safety-margin", "PT0S", "--json").stdout)
    assert freed["bytes_freed"] > 500_000


def test_a_failing_write_on_restore_names_the_file_and_restores_the_rest(
    tmp_path: Path,
) -> None:
    repo, source, target = tmp_path / "repo", tmp_path / "source", tmp_path / "target"
    source.mkdir()
    (source / "big").write_bytes(os.urandom(2_000_000))
    (source / "small").write_bytes(b"small file\n")
    assert lifeboat("init", "-r", str(repo)).returncode == 0
    assert lifeboat("backup", "-r", str(repo), str(source)).returncode == 0

    # Files may not grow past 1 MB in the restoring process: writes of `big` fail (EFBIG),
    # as they would on a full disk.
    done = lifeboat(
        "restore", "latest", "-r", str(repo), "--target", str(target), limit_file_size=1_000_000
    )
    assert done.returncode == 3
    assert "big" in done.stderr and "small" not in done.stderr
    assert (target / "small").read_bytes() == b"small file\n"


def test_restore_takes_restics_sub_path_and_patterns(tmp_path: Path) -> None:
    repo, source = tmp_path / "repo", tmp_path / "source"
    make_tree(source)
    assert lifeboat("init", "-r", str(repo)).returncode == 0
    assert lifeboat("backup", "-r", str(repo), str(source)).returncode == 0
    everything = digest(source)

    # SNAPSHOT:PATH restores what is at PATH straight into the target.
    sub = tmp_path / "sub"
    done = lifeboat("restore", "latest:/app", "-r", str(repo), "--target", str(sub))
    assert done.returncode == 0, done.stderr
    assert digest(sub) == digest(source / "app")

    # --include keeps the path; the directories on the way come back, nothing else.
    included = tmp_path / "included"
    done = lifeboat("restore", "latest", "-r", str(repo), "--target", str(included), "-i", "*.db")
    assert done.returncode == 0, done.stderr
    assert digest(included) == {
        name: found
        for name, found in everything.items()
        if name in ("app", "app/données", "app/données/table.db")
    }

    excluded = tmp_path / "excluded"
    done = lifeboat(
        "restore", "latest", "-r", str(repo), "--target", str(excluded), "--exclude", "/app"
    )
    assert done.returncode == 0, done.stderr
    assert digest(excluded) == {
        name: found for name, found in everything.items() if not name.startswith("app")
    }

    # Bad patterns are refused before anything is written.
    refused = tmp_path / "refused"
    malformed = lifeboat(
        "restore", "latest", "-r", str(repo), "--target", str(refused), "--include", "a[b"
    )
    assert malformed.returncode == 2
    assert "include: " in malformed.stderr and "invalid pattern 'a[b'" in malformed.stderr
    both = lifeboat(
        "restore", "latest", "-r", str(repo), "--target", str(refused), "-i", "/a", "-e", "/b"
    )
    assert both.returncode == 2 and "mutually exclusive" in both.stderr
    assert not refused.exists()


def test_worker_processes_and_file_threads_store_the_same_tree(tmp_path: Path) -> None:
    """Small files are read by worker processes (`--processes`, one per CPU by default) or,
    with `--processes 0`, by file threads: the snapshot's tree is the same either way."""
    repo, source = tmp_path / "repo", tmp_path / "source"
    make_tree(source)
    assert lifeboat("init", "-r", str(repo)).returncode == 0
    # The first backup reads the symlinks, which moves their atimes (relatime): the
    # backups compared come after it.
    assert lifeboat("backup", "-r", str(repo), str(source)).returncode == 0
    trees = []
    for processes in ("0", "2"):
        done = lifeboat(
            "backup", "-r", str(repo), str(source), "--force", "--json", "--processes", processes
        )
        assert done.returncode == 0, done.stderr
        trees.append(json.loads(done.stdout)["tree"])
    assert trees[0] == trees[1]
    checked = restic(
        "-r", str(repo), "check", "--read-data", env={**os.environ, "RESTIC_PASSWORD": PASSWORD}
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_local_cache_remembers_the_key_file_and_tree_packs(
    stack: StackInfo, s3_env: dict[str, str], tmp_path: Path
) -> None:
    repo = stack.s3.repo_string(f"cache-{uuid.uuid4().hex[:8]}")
    source = tmp_path / "source"
    make_tree(source)
    cache = tmp_path / "cache"
    env = {**s3_env, "LIFEBOAT_CACHE_DIR": str(cache)}

    assert lifeboat("init", "-r", repo, env=env).returncode == 0
    (key_file,) = [path for path in (cache / "keys").rglob("*") if path.is_file()]
    assert lifeboat("backup", "-r", repo, str(source), env=env).returncode == 0
    assert list(cache.glob("*/data/*/*"))  # the tree packs
    cached = [path for path in cache.rglob("*") if path.is_file()]
    assert all(PASSWORD.encode() not in path.read_bytes() for path in cached)

    # A damaged remembered key file is not trusted, and is remembered right again.
    remembered = key_file.read_bytes()
    key_file.write_bytes(b"not a key file")
    listed = lifeboat("snapshots", "-r", repo, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1
    assert key_file.read_bytes() == remembered

    # --no-cache neither reads nor writes one.
    elsewhere = tmp_path / "unused-cache"
    unused = lifeboat(
        "snapshots", "-r", repo, "--no-cache", env={**s3_env, "LIFEBOAT_CACHE_DIR": str(elsewhere)}
    )
    assert unused.returncode == 0, unused.stderr
    assert not elsewhere.exists()


def test_a_backup_imports_only_what_it_runs(tmp_path: Path) -> None:
    """A command starts deriving its key before the heavy imports, and does not import
    what other commands use (restore, check, gc, stats) or what only a terminal shows."""
    repo, source = tmp_path / "repo", tmp_path / "source"
    make_tree(source)
    env = {"LIFEBOAT_CACHE_DIR": str(tmp_path / "cache")}
    assert lifeboat("init", "-r", str(repo), env=env).returncode == 0
    done = lifeboat(
        "backup", "-r", str(repo), str(source), env={**env, "PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert done.returncode == 0, done.stderr
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "datamover.archiver" in imported
    for unneeded in (
        "rich.console",
        "datamover.stats",
        "datamover.restorer",
        "datamover.check",
        "datamover.prune",
    ):
        assert unneeded not in imported
    assert imported.index("datamover.earlykey") < imported.index("pydantic")
