#!/usr/bin/env bash
# Installs the project with its test tools, checks style and types (ruff, mypy), and runs the test suite:
# once on the default Keras backend (TensorFlow), then the model and training tests again on JAX. Every step
# runs and reports even when an earlier one fails; the exit status is non-zero when any failed. Arguments go to both runs
# (e.g. -m "not slow" for the fast loop).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
# the whole locked tree (hashes checked), then the project itself on top of it with nothing else pulled in
"$PY" -m pip install -q --require-hashes -r requirements-dev.lock
"$PY" -m pip install -q --no-deps --no-build-isolation -e .
failed=()
"$PY" -m ruff check . || failed+=("ruff")
"$PY" -m mypy || failed+=("mypy")
"$PY" -m pytest -q "$@" || failed+=("tests (TensorFlow)")
KERAS_BACKEND=jax "$PY" -m pytest -q -m backends "$@" tests/test_models.py tests/test_train.py || failed+=("tests (JAX)")
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
