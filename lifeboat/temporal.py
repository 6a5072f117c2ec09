"""Connecting to Temporal the one way every Lifeboat process does."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from lifeboat.config import TemporalSettings


async def connect(settings: TemporalSettings) -> Client:
    """A client whose payloads are pydantic models, as every workflow and activity expects."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
    )
