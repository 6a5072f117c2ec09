#!/usr/bin/env bash
# The test command of the README: sets up .venv if needed, then runs the whole suite against
# the real local stack (Temporal dev server, SeaweedFS, moto, emulated Kubernetes, restic).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
