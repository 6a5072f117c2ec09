import json

from click.testing import CliRunner

from lifeboat.cli.schema import MODELS, schema


def test_without_a_model_lists_the_models() -> None:
    result = CliRunner().invoke(schema, [])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == list(MODELS)
    assert {"BackupRequest", "RestoreRequest", "MigrationRequest", "ReplicationPolicy"} <= set(
        names
    )


def test_prints_the_json_schema_of_a_model() -> None:
    result = CliRunner().invoke(schema, ["BackupRequest"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert printed["title"] == "BackupRequest"
    assert printed["required"] == ["cluster"]
    assert printed["additionalProperties"] is False
    options = printed["$defs"]["BackupOptions"]["properties"]
    memory = options["datamover_memory_limit_mib"]
    assert (memory["minimum"], memory["maximum"], memory["default"]) == (512, 8192, 1024)
    assert options["total_concurrent_files"]["default"] == 24
    assert printed["$defs"]["BackupMethod"]["enum"] == ["snapshot", "pvc", "host_volume", "skip"]
    assert printed["properties"]["retention"]["default"] == "P30D"
    assert (
        "How long the recovery point is kept" in printed["properties"]["retention"]["description"]
    )


def test_model_names_are_case_insensitive() -> None:
    result = CliRunner().invoke(schema, ["restorerequest"])
    assert result.exit_code == 0
    properties = json.loads(result.output)["properties"]
    assert properties["total_concurrent_files"]["default"] == 16
    assert properties["existing_resource_policy"]["default"] == "skip"


def test_serialization_mode() -> None:
    result = CliRunner().invoke(schema, ["RecoveryPoint", "--mode", "serialization"])
    assert result.exit_code == 0
    assert "volumes" in json.loads(result.output)["properties"]


def test_unknown_model_lists_the_allowed_names() -> None:
    result = CliRunner().invoke(schema, ["BackupRequests"])
    assert result.exit_code == 2
    assert "'BackupRequests' is not a model; allowed: Cluster, AwsLink" in result.output
    assert "RecoveryPoint" in result.output


def test_every_model_has_a_schema() -> None:
    for name in MODELS:
        result = CliRunner().invoke(schema, [name])
        assert result.exit_code == 0, name
        assert json.loads(result.output)["title"] == name
