#!/usr/bin/env bash
# Run the whole test suite exactly as CI does: lint, format check, then every test.
# Arguments go to pytest, e.g. ./test.sh -m "not slow" for the fast part alone.
set -uo pipefail
cd "$(dirname "$0")"
python3 scripts/ensure_venv.py dev || exit 1
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
