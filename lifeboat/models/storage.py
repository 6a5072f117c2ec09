"""Where backups are stored: an S3 bucket and prefix holding one restic-format repository."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Self

from pydantic import AnyHttpUrl, Field, model_validator

from datamover.limits import DEFAULT_GC_SAFETY_MARGIN
from lifeboat.models.base import LifeboatModel
from lifeboat.models.cluster import AWS_REGION_PATTERN
from lifeboat.models.common import DnsLabel
from lifeboat.models.constraints import Check
from lifeboat.models.duration import Duration
from lifeboat.models.errors import FieldErrors, invalid, show
from lifeboat.models.schedule import OverlapPolicy, Schedule
from lifeboat.models.secrets import SecretRef

BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_BUCKET = re.compile(BUCKET_PATTERN)
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
PREFIX_PATTERN = r"^[A-Za-z0-9!_.*'()/-]*$"
_PREFIX = re.compile(PREFIX_PATTERN)
PREFIX_MAX = 512
_AWS_REGION = re.compile(AWS_REGION_PATTERN)


def bucket_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 bucket naming rules (general purpose buckets), or None."""
    if not 3 <= len(name) <= 63:
        return f"is {len(name)} characters long; 3 to 63 are allowed"
    if _BUCKET.fullmatch(name) is None:
        return (
            "may contain only lowercase letters, digits, '.' and '-', "
            "and must start and end with a letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address"
    for prefix in _BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in _BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


def _bucket(name: str) -> str:
    problem = bucket_problem(name)
    if problem is not None:
        raise invalid("bucket", f"{show(name)} is not a valid S3 bucket name: it {problem}")
    return name


def _prefix(prefix: str) -> str:
    """Normalised without leading or trailing '/', so the repository string is canonical."""
    normal = prefix.strip("/")
    if len(normal) > PREFIX_MAX:
        raise invalid("prefix", f"{show(prefix)} is longer than {PREFIX_MAX} characters")
    if _PREFIX.fullmatch(normal) is None:
        raise invalid(
            "prefix",
            f"{show(prefix)} is not a valid prefix: letters, digits, '/' and !_.*'()- are allowed",
        )
    if any(part in ("", ".", "..") for part in normal.split("/")) and normal:
        raise invalid("prefix", f"{show(prefix)} must not contain empty, '.' or '..' path parts")
    return normal


def _endpoint(url: AnyHttpUrl) -> AnyHttpUrl:
    if url.username is not None or url.password is not None:
        # The URL is not echoed: its user info may hold a secret.
        raise invalid(
            "endpoint",
            "the endpoint URL must not carry credentials; give them in 'credentials' by reference",
        )
    if url.path not in (None, "", "/") or url.query is not None or url.fragment is not None:
        raise invalid(
            "endpoint",
            f"{show(str(url))} must be scheme, host and port only; "
            "the bucket and prefix have their own fields",
        )
    return url


BucketName = Annotated[str, Check(_bucket, {"pattern": BUCKET_PATTERN})]
KeyPrefix = Annotated[str, Check(_prefix, {"pattern": PREFIX_PATTERN, "maxLength": PREFIX_MAX})]
Endpoint = Annotated[AnyHttpUrl, Check(_endpoint)]


class S3Credentials(LifeboatModel):
    """S3 access keys, by reference. Absent credentials mean the default AWS chain (IRSA,
    instance profile, ``AWS_*`` variables) of the worker that connects."""

    access_key_id: SecretRef
    secret_access_key: SecretRef
    session_token: SecretRef | None = None


Percent = Annotated[float, Field(gt=0, le=100)]


class RepositoryMaintenance(LifeboatModel):
    """When and how a storage location's repository is maintained: garbage collection, a
    check that reads a sample of the packs, and its stats, on a Temporal Schedule."""

    schedule: Schedule = Schedule(cron="@daily")
    """Daily at midnight UTC by default; cron or interval, time zone and pause as for
    backup policies. Overlap may be ``skip`` or ``buffer_one``: maintenance never runs
    twice at once, so a run that is due while one runs is dropped or waits."""

    gc_safety_margin: Duration = DEFAULT_GC_SAFETY_MARGIN
    """Packs younger than this are never deleted (``0s`` only where nothing writes)."""

    check_read_data_percent: Percent = 5.0
    """Share of the packs the check downloads and verifies, chosen at random each run."""

    @model_validator(mode="after")
    def _never_two_at_once(self) -> Self:
        allowed = (OverlapPolicy.SKIP, OverlapPolicy.BUFFER_ONE)
        if self.schedule.overlap not in allowed:
            errors = FieldErrors(type(self).__name__)
            errors.add(
                ("schedule", "overlap"),
                "overlap",
                f"{show(self.schedule.overlap.value)}: maintenance of a repository never runs "
                "twice at once; allowed: skip, buffer_one",
                self.schedule.overlap.value,
            )
            errors.raise_if_any()
        return self


class StorageLocation(LifeboatModel):
    """An S3 bucket and prefix with one repository in restic's format (version 2)."""

    name: DnsLabel
    """Lifeboat's name for the location; requests name it."""

    endpoint: Endpoint | None = None
    """S3 endpoint URL, e.g. ``http://127.0.0.1:8333``; not needed for AWS S3 (derived
    from ``region``)."""

    bucket: BucketName
    """The bucket, following the S3 bucket naming rules."""

    prefix: KeyPrefix = ""
    """Key prefix of the repository inside the bucket; '' for the bucket's root."""

    region: str = "us-east-1"
    """Signing region; for AWS S3 (no endpoint) a real region name."""

    credentials: S3Credentials | None = None
    """S3 keys by reference; when absent the worker's default AWS credential chain is used."""

    password: SecretRef
    """The repository password, by reference."""

    maintenance: RepositoryMaintenance = RepositoryMaintenance()
    """The repository's maintenance schedule; the control worker applies it at start."""

    @model_validator(mode="after")
    def _aws_region_without_endpoint(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if not self.region:
            errors.add("region", "region", "must not be empty", self.region)
        elif self.endpoint is None and _AWS_REGION.fullmatch(self.region) is None:
            errors.add(
                "region",
                "region",
                f"{show(self.region)} is not an AWS region name such as 'us-east-1'; without an "
                "endpoint the location is on AWS S3",
                self.region,
            )
        errors.raise_if_any()
        return self

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint without a trailing '/', for boto3 and the repository string."""
        if self.endpoint is not None:
            return str(self.endpoint).rstrip("/")
        suffix = ".amazonaws.com.cn" if self.region.startswith("cn-") else ".amazonaws.com"
        return f"https://s3.{self.region}{suffix}"

    def repository(self) -> str:
        """The repository string restic and ``lifeboat repo`` take:
        ``s3:<endpoint>/<bucket>[/<prefix>]``."""
        location = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"s3:{self.endpoint_url}/{location}"
