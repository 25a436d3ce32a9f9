#!/usr/bin/env bash
# Installs the project with its test tools, checks style, and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements-dev.txt -e .
python3 -m ruff check .
python3 -m pytest -q "$@"
