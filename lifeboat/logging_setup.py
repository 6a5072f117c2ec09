"""One structlog configuration for every Lifeboat process.

Readable console lines when a person watches a terminal, JSON lines when a log collector
does. Secrets are removed in the pipeline itself, so no call site can leak one by mistake:
values under secret-sounding keys are masked, and so is any registered secret value wherever
it appears in a message (a password echoed inside an exception text, say).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import structlog

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|authorization|"
    r"credential|private[_-]?key|kubeconfig_data|session[_-]?key",
    re.IGNORECASE,
)
_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it would appear in a log line from now on."""
    if value and len(value) >= 4:
        with _known_lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-keyed values and registered secret values."""
    for key in list(event_dict):
        value = event_dict[key]
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        elif key == "exception" and isinstance(value, str):
            event_dict[key] = redact_text(value)
        else:
            event_dict[key] = _redact(value)
    return event_dict


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger (temporalio, botocore, kubernetes log there).

    `json=None` picks JSON lines unless `stream` is a terminal.
    """
    _import_structlog_first()
    import structlog

    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that echo request bodies or credentials at debug level stay at warning.
    for noisy in ("botocore", "boto3", "urllib3", "kubernetes.client.rest", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _import_structlog_first() -> None:
    """Import structlog without rich, if nothing has imported either yet.

    structlog's console renderer imports rich (and pygments) when it is imported, only to
    offer rich tracebacks: 0.1 s of every `lifeboat repo` command, whose logs are a few
    warnings or JSON lines. Hidden from that import, the renderer prints plain tracebacks.
    """
    if "structlog" not in sys.modules and "rich" not in sys.modules:
        sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` fails meanwhile
        try:
            import structlog  # noqa: F401
        finally:
            del sys.modules["rich"]
