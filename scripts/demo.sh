#!/usr/bin/env bash
# The demo command of the README: sets up .venv if needed, then runs `lifeboat demo` on the
# embedded local stack. Stop the stack afterwards with `.venv/bin/lifeboat dev down`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/lifeboat demo "$@"
