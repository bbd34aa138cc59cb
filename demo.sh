#!/usr/bin/env bash
# Try nemopi on this machine: install into ./.venv, then run broker, ingest, web and three
# simulated buoys, and print the dashboard's address. Options go to `nemopi demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")"
python3 scripts/ensure_venv.py demo
exec .venv/bin/nemopi demo "$@"
