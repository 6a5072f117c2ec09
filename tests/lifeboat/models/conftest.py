from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from lifeboat.models import format_validation_error

Rejection = Callable[[type[BaseModel], Any], str]


@pytest.fixture
def rejection() -> Rejection:
    """Validate ``data`` as ``model``, expect failure, return the formatted message lines."""

    def reject(model: type[BaseModel], data: Any) -> str:
        with pytest.raises(ValidationError) as caught:
            model.model_validate(data)
        return format_validation_error(caught.value)

    return reject
