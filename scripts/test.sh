#!/usr/bin/env bash
# Installs the project with its test tools, checks style, and runs the test suite: once on the default
# Keras backend (TensorFlow), then the model and training tests again on JAX. Arguments go to both runs
# (e.g. -m "not slow" for the fast loop).
set -euo pipefail
cd "$(dirname "$0")/.."
# the whole locked tree (hashes checked), then the project itself on top of it with nothing else pulled in
python3 -m pip install -q --require-hashes -r requirements-dev.lock
python3 -m pip install -q --no-deps --no-build-isolation -e .
python3 -m ruff check .
python3 -m pytest -q "$@"
KERAS_BACKEND=jax python3 -m pytest -q -m backends "$@" tests/test_models.py tests/test_train.py
