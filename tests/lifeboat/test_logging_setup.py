"""Every process logs through one configuration, and secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import structlog

from lifeboat.logging_setup import configure_logging, register_secret


def _capture(as_json: bool) -> io.StringIO:
    out = io.StringIO()
    configure_logging("info", json=as_json, stream=out)
    return out


def test_json_lines_with_level_and_event() -> None:
    out = _capture(as_json=True)
    structlog.get_logger("lifeboat.test").info("backup.started", cluster="dev", pvs=3)
    record = json.loads(out.getvalue().strip().splitlines()[-1])
    assert record["event"] == "backup.started"
    assert record["level"] == "info"
    assert record["cluster"] == "dev"
    assert record["pvs"] == 3
    assert "timestamp" in record


def test_console_output_is_readable_text() -> None:
    out = _capture(as_json=False)
    structlog.get_logger("lifeboat.test").warning("snapshot.slow", pv="pvc-1")
    line = out.getvalue().strip()
    assert "snapshot.slow" in line and "pv=pvc-1" in line
    assert not line.startswith("{")


def test_secret_keys_are_masked_at_any_depth() -> None:
    out = _capture(as_json=True)
    structlog.get_logger("lifeboat.test").info(
        "repo.opened",
        password="hunter22",
        settings={"aws_secret_access_key": "AKIASECRET", "bucket": "b"},
    )
    text = out.getvalue()
    assert "hunter22" not in text and "AKIASECRET" not in text
    record = json.loads(text.strip().splitlines()[-1])
    assert record["password"] == "***"
    assert record["settings"] == {"aws_secret_access_key": "***", "bucket": "b"}


def test_registered_secret_is_masked_inside_messages_and_tracebacks() -> None:
    out = _capture(as_json=True)
    register_secret("correct-horse-battery")
    log = structlog.get_logger("lifeboat.test")
    try:
        raise ValueError("could not open repo with correct-horse-battery")
    except ValueError:
        log.exception("repo.failed", detail="tried correct-horse-battery")
    assert "correct-horse-battery" not in out.getvalue()
    assert "***" in out.getvalue()


def test_stdlib_loggers_of_libraries_go_through_the_same_pipeline() -> None:
    out = _capture(as_json=True)
    register_secret("s3cr3t-value")
    logging.getLogger("temporalio.worker").warning("retrying with s3cr3t-value")
    record = json.loads(out.getvalue().strip().splitlines()[-1])
    assert record["logger"] == "temporalio.worker"
    assert "s3cr3t-value" not in record["event"]


def test_configuring_imports_structlog_without_rich_and_tracebacks_still_print() -> None:
    """structlog would import rich (0.1 s) for its console tracebacks; a command that
    configures logging first gets plain ones, with the exception in full."""
    program = """
import io, sys
from lifeboat.logging_setup import configure_logging
out = io.StringIO()
configure_logging("info", json=False, stream=out)
import structlog
try:
    raise RuntimeError("disk gone")
except RuntimeError:
    structlog.get_logger("t").exception("restore.failed")
print("rich" in sys.modules, "Traceback" in out.getvalue(), "disk gone" in out.getvalue())
"""
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.split() == ["False", "True", "True"], run.stderr
