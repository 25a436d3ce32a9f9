# Sourced by the Quickstart scripts: sets PY to the Python to install into and run with. Inside a virtualenv,
# that one; otherwise the project's own .venv/, made on first use (a system Python such as Debian's refuses
# pip installs: "externally-managed-environment").
if python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
  PY=python3
  echo "Using the active virtualenv $(python3 -c 'import sys; print(sys.prefix)')."
else
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || {
      rm -rf .venv
      echo "Could not create a virtualenv in .venv/ with $(command -v python3): install Python's venv module" \
           "(Debian/Ubuntu: sudo apt-get install python3-venv) or activate a virtualenv of your own, then rerun." >&2
      exit 1
    }
  fi
  PY=.venv/bin/python
  echo "Installing into the project's virtualenv .venv/ (made on first use; 'source .venv/bin/activate' to use it yourself)."
fi
