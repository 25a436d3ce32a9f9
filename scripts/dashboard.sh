#!/usr/bin/env bash
# Installs the project from the lock file (the whole dependency tree, hashes checked) and starts the dashboard
# on the embedded synthetic sample and the shipped models. Arguments go to `streamlit run`
# (e.g. --server.port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --require-hashes -r requirements.lock
python3 -m pip install -q --no-deps --no-build-isolation -e .
exec python3 -m streamlit run dashboard/app.py "$@"
