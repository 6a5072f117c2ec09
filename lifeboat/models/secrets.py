"""References to secrets: where a worker finds a password or key, never the value itself.

Workflow inputs and results are stored in Temporal's history and shown in its UI, so a model
that travels through a workflow must not be able to carry a secret. ``SecretRef`` names an
environment variable or a file on the worker that reads it; anything that looks like a
value is refused, and the refusal never repeats what was given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import SecretStr, model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import AbsolutePath
from lifeboat.models.constraints import Check
from lifeboat.models.errors import invalid, show

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENV_NAME = re.compile(ENV_NAME_PATTERN)
_REFERENCE_FIELDS = ("env", "file")
_HOW = 'give a reference instead: {"env": "VARIABLE_NAME"} or {"file": "/path/to/file"}'
_WHY = "secrets are never accepted by value, as workflow inputs are stored in Temporal's history"


class SecretUnavailableError(Exception):
    """The referenced secret cannot be read here; the message names the reference only."""


def _env_name(name: str) -> str:
    if _ENV_NAME.fullmatch(name) is None:
        raise invalid(
            "env_name",
            f"{show(name)} is not an environment variable name; "
            "letters, digits and '_' are allowed, not starting with a digit",
        )
    return name


EnvName = Annotated[str, Check(_env_name, {"pattern": ENV_NAME_PATTERN})]


class SecretRef(LifeboatModel):
    """Where to read a secret: exactly one of ``env`` or ``file``."""

    env: EnvName | None = None
    """Name of an environment variable of the worker that reads the secret."""

    file: AbsolutePath | None = None
    """Absolute path of a file on the worker that reads the secret (a mounted Kubernetes
    Secret, for example); one trailing newline is ignored."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_values(cls, data: Any) -> Any:
        if isinstance(data, SecretRef):
            return data
        if not isinstance(data, Mapping):
            raise invalid("secret_by_value", f"{_WHY}; {_HOW}")
        for key in data:
            if key not in _REFERENCE_FIELDS:
                # Never echo data[key]: it may be the secret.
                raise invalid(
                    "secret_by_value",
                    f"field {str(key)!r} is not allowed in a secret reference; {_WHY}; {_HOW}",
                )
        given = [key for key in _REFERENCE_FIELDS if data.get(key) is not None]
        if len(given) != 1:
            raise invalid(
                "secret_ref",
                f"exactly one of 'env' or 'file' is required, {len(given)} given; {_HOW}",
            )
        return data

    def describe(self) -> str:
        """``env:NAME`` or ``file:/path``: safe to log and show."""
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"

    def read(self, environ: Mapping[str, str] | None = None) -> SecretStr:
        """The secret, read on the worker that needs it (never inside a workflow)."""
        if self.env is not None:
            value = (os.environ if environ is None else environ).get(self.env)
            if value is None:
                raise SecretUnavailableError(f"environment variable {self.env} is not set")
        else:
            assert self.file is not None
            try:
                value = Path(self.file).read_text(encoding="utf-8").removesuffix("\n")
            except OSError as exc:
                raise SecretUnavailableError(
                    f"cannot read secret file {self.file}: {exc.strerror}"
                ) from None
        if not value:
            raise SecretUnavailableError(f"secret {self.describe()} is empty")
        return SecretStr(value)
