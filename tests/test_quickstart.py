"""The Quickstart scripts' choice of Python (``scripts/python_env.sh``): the active virtualenv when there is
one, else the project's ``.venv/`` (made on first use, since a system Python such as Debian's refuses pip
installs), and a clear message when no virtualenv can be made; and CI's (``.ci/run``): Debian's own Python.
Run on a copy of the scripts in a temporary folder, with ``python3`` on the PATH pointing at the interpreter
under test."""

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


DEBIAN_PYTHON = Path("/usr/bin/python3")


def usable(python: Path) -> bool:
    """``python`` is a Python 3.11+ that can make a virtualenv with pip."""
    check = 'import sys; sys.exit(sys.version_info < (3, 11))'
    return (python.is_file() and subprocess.run([python, "-c", check], timeout=60).returncode == 0
            and subprocess.run([python, "-m", "ensurepip", "--version"], capture_output=True,
                               timeout=60).returncode == 0)


@pytest.mark.skipif(os.name == "nt" or not usable(DEBIAN_PYTHON),
                    reason=f"needs Debian's own Python 3.11+ with venv at {DEBIAN_PYTHON}")
def test_ci_runs_the_tests_on_debians_own_python(tmp_path):
    """``.ci/run`` runs ``scripts/test.sh`` on the oldest Python the project claims, Debian's own where it is
    present, even when another ``python3`` (here a decoy that fails) comes first on the PATH. Run on a copy with
    a stand-in for ``scripts/test.sh`` that reports the Python ``scripts/python_env.sh`` chose."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / ".ci").mkdir()
    shutil.copy2(ROOT / ".ci" / "run", project / ".ci" / "run")
    shutil.copy2(ROOT / "scripts" / "python_env.sh", project / "scripts")
    (project / "scripts" / "test.sh").write_text(
        'set -euo pipefail\ncd "$(dirname "$0")/.."\nsource scripts/python_env.sh\n'
        '"$PY" -c "import sys; print(\'base:\', sys.base_prefix, sys.version.split()[0])"\n')
    decoys = tmp_path / "bin"
    decoys.mkdir()
    for name, body in (("python3", "echo 'the decoy python3 ran' >&2; exit 3"), ("chromium", "exit 0")):
        (decoys / name).write_text(f"#!/bin/sh\n{body}\n")
        (decoys / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = f"{decoys}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    out = subprocess.run(["bash", str(project / ".ci" / "run")], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    expected = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print(sys.base_prefix, sys.version.split()[0])"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    assert f"base: {expected}" in out.stdout.splitlines(), out.stdout
    assert f"ci: the tests run on {DEBIAN_PYTHON}" in out.stdout
    assert (project / ".venv" / "bin" / "python").is_file()
