#!/usr/bin/env bash
# Run the whole test suite exactly as CI does: lint, format check, then every test.
# Arguments go to pytest, e.g. ./test.sh -m "not slow" for the fast part alone.
set -uo pipefail
cd "$(dirname "$0")"
python3 scripts/ensure_venv.py dev || exit 1
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
run_pytest() {
    .venv/bin/python -m pytest "$@"
    local status=$?
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure" >&2
        return 1
    fi
    return "$status"
}
# With a marker expression of your own, one run does what you asked. Without one: everything
# on three workers, then the chaos tests marked serial alone, whose timing needs the machine.
for arg in "$@"; do
    case "$arg" in -m | -m*) run_pytest "$@"; exit $? ;; esac
done
run_pytest -m "not serial" "$@" || exit 1
run_pytest -n 0 -m serial "$@"
