"""The lock files the Quickstart scripts, CI and the Dockerfile install from: each script installs the project
editable without build isolation (``pip install --no-deps --no-build-isolation -e .``), which uses whatever
setuptools and wheel the environment has and skips ``pyproject.toml``'s ``[build-system] requires``; so the
lock each script installs first must pin them (with hashes), or a new virtualenv (setuptools 65-66, no wheel on
Debian 12's Python 3.11.2) fails with ``invalid command 'bdist_wheel'``. Every lock pins the same build
requirements, and each holds the pins of the ``requirements*.txt`` file it is compiled from (``scripts/lock.sh``)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.lock", "requirements-train.lock", "requirements-dev.lock")
SCRIPTS = ("scripts/dashboard.sh", "scripts/test.sh")
# Beyond pyproject's list: what the editable install needs from the build backend's side on every Python the
# project claims (an older setuptools has no bdist_wheel of its own).
ALSO_NEEDED = ("wheel",)


def lock_pins(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """``name``'s pins: canonical package name -> (version, its sha256 hashes)."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    text = (ROOT / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)\s*(.*)$", line.strip())
        assert m, f"{name}: not a pinned requirement: {line!r}"
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3)))
        pins[canonicalize_name(m.group(1))] = (m.group(2), hashes)
    return pins


def txt_pins(name: str) -> dict[str, str]:
    """The exact pins of a ``requirements*.txt`` file and of the files it includes with ``-r``."""
    pins: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(txt_pins(line[3:].strip()))
        elif line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{name}: {line!r} is not an exact pin"
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def build_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in [*pyproject["build-system"]["requires"], *ALSO_NEEDED]]


def installs(script: str) -> tuple[list[str], int]:
    """The lock files ``script`` installs before its editable install, and that line's number."""
    locks: list[str] = []
    for number, line in enumerate((ROOT / script).read_text().splitlines(), 1):
        words = shlex.split(line, comments=True)
        if "pip" not in words or "install" not in words:
            continue
        if "-e" in words:
            assert "--no-build-isolation" in words, f"{script}:{number}: the build requirements are {words}"
            return locks, number
        locks += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-r"]
    raise AssertionError(f"{script}: no `pip install ... -e .` line")


@pytest.mark.parametrize("script", SCRIPTS)
def test_what_a_script_installs_before_the_project_holds_its_build_requirements(script: str) -> None:
    locks, line = installs(script)
    assert locks, f"{script}:{line}: nothing is installed from a lock before the editable install"
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for lock in locks:
        pins.update(lock_pins(lock))
    for req in build_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, (
            f"{script} installs the project with --no-build-isolation after {', '.join(locks)}, which pin(s) no "
            f"{req.name}: the build would use whatever {req.name} a new virtualenv has; pin {req} in "
            "requirements.txt and refresh the locks (scripts/lock.sh)")
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"{', '.join(locks)} pin(s) {req.name}=={version}, outside pyproject.toml's build requirement {req}")
        assert hashes, f"{', '.join(locks)}: {req.name}=={version} without a hash (the scripts use --require-hashes)"


def test_every_lock_pins_the_same_build_requirements() -> None:
    """The image (requirements.lock), training (-train) and the tests (-dev) build the project alike."""
    for req in build_requirements():
        name = canonicalize_name(req.name)
        pins = {lock: lock_pins(lock).get(name) for lock in LOCKS}
        assert all(pins.values()), f"{req.name} is not pinned in {[lock for lock, pin in pins.items() if not pin]}"
        assert len(set(pins.values())) == 1, f"{req.name}: the locks pin different releases: {pins}"


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_holds_the_pins_of_its_requirements_file(lock: str) -> None:
    pins = lock_pins(lock)
    for name, version in txt_pins(lock.replace(".lock", ".txt")).items():
        assert name in pins and pins[name][0] == version, (
            f"{lock} does not hold {name}=={version} of its requirements file: run scripts/lock.sh")
