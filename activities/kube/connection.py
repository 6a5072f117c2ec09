"""A Kubernetes API client for one `Cluster`, made the way the cluster's config says."""

from __future__ import annotations

from kubernetes import client, config

from lifeboat.models import Cluster


def api_client(cluster: Cluster) -> client.ApiClient:
    """A fresh client; callers close it (it owns a connection pool)."""
    configuration = client.Configuration()
    if cluster.in_cluster:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(cluster.kubeconfig),
            context=cluster.context,
            client_configuration=configuration,
        )
    return client.ApiClient(configuration)
