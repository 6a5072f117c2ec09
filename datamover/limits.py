"""What the data mover promises its callers, in one place: the memory limits it keeps to and
the garbage collection margin it keeps by default. Stdlib only, so the control plane's
models and the workflow sandbox can import it without the data mover's dependencies."""

from __future__ import annotations

from datetime import timedelta

MIN_LIMIT_MIB = 512
MAX_LIMIT_MIB = 8192
DEFAULT_LIMIT_MIB = 1024
"""The memory limit, MiB: the data mover keeps its peak RSS under it (`datamover.budget`)."""

DEFAULT_GC_SAFETY_MARGIN = timedelta(hours=1)
"""A pack younger than this may belong to a backup that is being resumed from its
checkpoint, so garbage collection keeps it (`datamover.prune`)."""
