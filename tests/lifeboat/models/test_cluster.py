from collections.abc import Callable

from lifeboat.models import DEFAULT_KUBELET_PODS_DIR, AwsLink, Cluster

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


AWS = {
    "account_id": "012345678901",
    "region": "eu-west-1",
    "eks_cluster_name": "prod_eu-1",
    "role_arn": "arn:aws:iam::012345678901:role/lifeboat/LifeboatAccess",
}


def test_kubeconfig_or_in_cluster_with_defaults() -> None:
    cluster = Cluster(name="dev", kubeconfig="/home/me/.kube/config", context="kind-dev")
    assert cluster.kubelet_pods_dir == DEFAULT_KUBELET_PODS_DIR == "/var/lib/kubelet/pods"
    assert cluster.aws is None
    assert Cluster(name="prod", in_cluster=True, kubelet_pods_dir="/data/kubelet/pods/")
    assert Cluster(name="prod", in_cluster=True, kubelet_pods_dir="/k/").kubelet_pods_dir == "/k"


def test_exactly_one_way_to_connect(rejection: Rejection) -> None:
    assert rejection(Cluster, {"name": "dev"}) == (
        "kubeconfig: is required unless in_cluster is true; give exactly one of them"
    )
    assert rejection(Cluster, {"name": "dev", "in_cluster": True, "kubeconfig": "/k"}) == (
        "in_cluster: in_cluster is true and kubeconfig is '/k'; give exactly one"
    )
    assert rejection(Cluster, {"name": "dev", "in_cluster": True, "context": "x"}) == (
        "context: 'x' is given without a kubeconfig; a context needs one"
    )


def test_cluster_name_and_pods_dir_rules(rejection: Rejection) -> None:
    message = rejection(
        Cluster, {"name": "Prod_EU", "in_cluster": True, "kubelet_pods_dir": "var/lib"}
    )
    assert message.splitlines() == [
        "name: 'Prod_EU' is not a valid name: it must be lowercase (DNS-1123 label)",
        "kubelet_pods_dir: 'var/lib' is not an absolute path; it must start with '/'",
    ]


def test_aws_link() -> None:
    cluster = Cluster(name="prod", in_cluster=True, aws=AwsLink.model_validate(AWS))
    assert cluster.aws is not None
    assert cluster.aws.account_id == "012345678901"


def test_aws_link_fields_named(rejection: Rejection) -> None:
    bad = {
        "account_id": "12345",
        "region": "Europe",
        "eks_cluster_name": "-x",
        "role_arn": "arn:aws:iam::123:user/x",
    }
    assert rejection(AwsLink, bad).splitlines() == [
        "account_id: '12345' is not an AWS account id (12 digits, as a string)",
        "region: 'Europe' is not an AWS region name such as 'us-east-1'",
        "eks_cluster_name: '-x' is not an EKS cluster name (1 to 100 letters, digits, '-' and "
        "'_', starting with a letter or digit)",
        "role_arn: 'arn:aws:iam::123:user/x' is not an IAM role ARN like "
        "'arn:aws:iam::123456789012:role/name'",
    ]


def test_role_must_be_in_the_linked_account_and_partition(rejection: Rejection) -> None:
    other_account = {**AWS, "role_arn": "arn:aws:iam::999999999999:role/x"}
    assert rejection(AwsLink, other_account) == (
        "role_arn: 'arn:aws:iam::999999999999:role/x' is in account 999999999999; "
        "it must be in account_id 012345678901"
    )
    china = {**AWS, "region": "cn-north-1"}
    assert "is in partition 'aws'; region cn-north-1 needs 'aws-cn'" in rejection(AwsLink, china)


def test_account_id_as_number_refused(rejection: Rejection) -> None:
    assert rejection(AwsLink, {**AWS, "account_id": 12345678901}) == (
        "account_id: input should be a valid string; given 12345678901"
    )
