"""The Quickstart scripts' choice of Python (``scripts/python_env.sh``): the active virtualenv when there is
one, else the project's ``.venv/`` (made on first use, since a system Python such as Debian's refuses pip
installs), and a clear message when no virtualenv can be made. Run on a copy of the script in a temporary
folder, with ``python3`` on the PATH pointing at the interpreter under test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def choose(tmp_path: Path, python3: Path) -> subprocess.CompletedProcess:
    """``source scripts/python_env.sh`` in a copy of the project folder, with ``python3`` first on the PATH
    (a virtualenv's own ``bin/``, as activating it does; else a link in a folder of its own)."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "scripts" / "python_env.sh", project / "scripts")
    bin_dir = python3.parent
    if python3.name != "python3":
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "python3").unlink(missing_ok=True)
        (bin_dir / "python3").symlink_to(python3)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return subprocess.run(["bash", "-c", 'set -euo pipefail; source scripts/python_env.sh; echo "PY=$PY"'],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(os.name == "nt", reason="the Quickstart scripts are bash")
def test_outside_a_virtualenv_the_project_venv_is_made_and_used(tmp_path):
    out = choose(tmp_path, BASE_PYTHON)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "PY=.venv/bin/python", out.stdout
    assert "Installing into the project's virtualenv .venv/" in out.stdout
    venv_python = tmp_path / "project" / ".venv" / "bin" / "python"
    check = subprocess.run([venv_python, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "True"
    again = choose(tmp_path, BASE_PYTHON)   # the second run reuses it
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "PY=.venv/bin/python", again.stderr


@pytest.mark.skipif(os.name == "nt", reason="the Quickstart scripts are bash")
def test_inside_a_virtualenv_that_one_is_used(tmp_path):
    venv = tmp_path / "mine"
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    out = choose(tmp_path, venv / "bin" / "python3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "PY=python3", out.stdout
    assert f"Using the active virtualenv {venv}" in out.stdout
    assert not (tmp_path / "project" / ".venv").exists()


@pytest.mark.skipif(os.name == "nt", reason="the Quickstart scripts are bash")
def test_a_python_without_venv_gets_a_message_naming_the_fix(tmp_path):
    fake = tmp_path / "python-without-venv"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "venv" ]; then echo "ensurepip is not available" >&2; '
                    f'exit 1; fi\nexec "{BASE_PYTHON}" "$@"\n')
    fake.chmod(0o755)
    out = choose(tmp_path, fake)
    assert out.returncode == 1
    assert "apt-get install python3-venv" in out.stderr and "activate a virtualenv" in out.stderr, out.stderr
    assert not (tmp_path / "project" / ".venv").exists()
