"""The restore activities as Temporal runs them: names, and errors a workflow can act on."""

from __future__ import annotations

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.kube.restore_activities import RestoreActivities
from devstack.info import StackInfo
from lifeboat.contracts.restore import CheckStorageClassesInput
from lifeboat.models import Cluster


@pytest.fixture
def activities(stack: StackInfo) -> RestoreActivities:
    info = stack.clusters["dev2"]
    return RestoreActivities(Cluster(name="dev2", kubeconfig=str(info.kubeconfig)))


def test_activity_names(activities: RestoreActivities) -> None:
    names = {activity._Definition.must_from_callable(a).name for a in activities.all()}

    assert names == {
        "kube.check_storage_class_mapping",
        "kube.restore_resources",
        "kube.expose_restore_volume",
        "kube.release_restore_volume",
        "kube.prune_replicated",
    }


def test_mapping_to_an_unknown_storage_class_is_not_retried(activities: RestoreActivities) -> None:
    env = ActivityEnvironment()

    env.run(
        activities.check_storage_class_mapping,
        CheckStorageClassesInput(storage_class_mapping={"csi-snap": "local"}),
    )
    with pytest.raises(ApplicationError) as raised:
        env.run(
            activities.check_storage_class_mapping,
            CheckStorageClassesInput(storage_class_mapping={"csi-snap": "gold", "nfs": "local"}),
        )

    assert raised.value.non_retryable
    assert "'gold'" in str(raised.value) and "'local'" not in str(raised.value).split(";")[0]
