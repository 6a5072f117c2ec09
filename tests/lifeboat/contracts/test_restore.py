"""The restore activities' contracts: JSON round trips, counts, stages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from lifeboat.contracts.restore import (
    ALL_STAGES,
    STAGES_AFTER_DATA,
    STAGES_BEFORE_DATA,
    RestoredClaim,
    RestoreObjectResult,
    RestoreOutcome,
    RestoreResourcesInput,
    RestoreResourcesResult,
    RestoreStage,
)
from lifeboat.models import ExistingResourcePolicy, RestoreRequest


def _result(name: str, outcome: RestoreOutcome) -> RestoreObjectResult:
    return RestoreObjectResult(
        resource="configmaps", kind="ConfigMap", namespace="copy", name=name, outcome=outcome
    )


def test_result_round_trips_through_the_temporal_converter() -> None:
    result = RestoreResourcesResult(
        objects=(
            _result("a", RestoreOutcome.CREATED),
            RestoreObjectResult(
                resource="services",
                kind="Service",
                namespace="copy",
                name="web",
                source_namespace="shop",
                outcome=RestoreOutcome.UPDATED,
                reason="kept the cluster's spec.clusterIP",
                kept_fields=("spec.clusterIP",),
            ),
        ),
        claims=(
            RestoredClaim(source_namespace="shop", namespace="copy", name="d", storage_class=None),
        ),
    )
    converter = pydantic_data_converter.payload_converter

    [payload] = converter.to_payloads([result])
    [decoded] = converter.from_payloads([payload], [RestoreResourcesResult])

    assert decoded == result


def test_input_round_trips_with_its_request() -> None:
    inp = RestoreResourcesInput(
        run_id="restore-dev-20260101t000000z",
        request=RestoreRequest(
            recovery_point="rp-1",
            namespace_mapping={"shop": "copy"},
            existing_resource_policy=ExistingResourcePolicy.UPDATE,
        ),
        resources_dir="/tmp/export",
        stages=STAGES_BEFORE_DATA,
    )
    converter = pydantic_data_converter.payload_converter

    [decoded] = converter.from_payloads(converter.to_payloads([inp]), [RestoreResourcesInput])

    assert decoded == inp


def test_counts_name_every_outcome() -> None:
    result = RestoreResourcesResult(
        objects=(
            _result("a", RestoreOutcome.CREATED),
            _result("b", RestoreOutcome.CREATED),
            _result("c", RestoreOutcome.FAILED),
        )
    )

    assert result.counts == {
        RestoreOutcome.CREATED: 2,
        RestoreOutcome.UPDATED: 0,
        RestoreOutcome.SKIPPED: 0,
        RestoreOutcome.FAILED: 1,
    }


def test_stages_split_at_the_claims() -> None:
    assert STAGES_BEFORE_DATA + STAGES_AFTER_DATA == ALL_STAGES
    assert STAGES_BEFORE_DATA[-1] == RestoreStage.STORAGE
    assert STAGES_AFTER_DATA[0] == RestoreStage.CONFIGURATION


def test_run_id_must_fit_in_a_label() -> None:
    with pytest.raises(ValidationError, match="run_id"):
        RestoreResourcesInput(
            run_id="x" * 64,
            request=RestoreRequest(recovery_point="rp-1"),
            resources_dir="/tmp/export",
        )
