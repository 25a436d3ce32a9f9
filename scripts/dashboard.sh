#!/usr/bin/env bash
# Installs the project from the lock file (the whole dependency tree, hashes checked) and starts the dashboard
# on the embedded synthetic sample and the shipped models. Arguments go to `streamlit run`
# (e.g. --server.port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
"$PY" -m pip install -q --require-hashes -r requirements.lock
"$PY" -m pip install -q --no-deps --no-build-isolation -e .
exec "$PY" -m streamlit run dashboard/app.py "$@"
