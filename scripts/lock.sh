#!/usr/bin/env bash
# Refreshes the lock files from the pins in requirements.txt, requirements-train.txt and requirements-dev.txt: the whole dependency
# tree, exact versions and sha256 hashes, resolved against PyPI itself (PIP_CONFIG_FILE=/dev/null: no local
# wheel folders, whose hashes a fresh machine would not match). The Dockerfile and CI install from them.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q "pip-tools==7.6.2"
for req in requirements requirements-train requirements-dev; do
  PIP_CONFIG_FILE=/dev/null python3 -m piptools compile -q --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links -o "$req.lock" "$req.txt"
done
