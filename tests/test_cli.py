import subprocess
import sys

import pytest


def test_import_does_not_load_tensorflow():
    code = "import sys, svhn_api; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_public_functions_stay_functions_after_their_modules_are_imported():
    import svhn_api
    import svhn_api.data.prepare  # noqa: F401
    import svhn_api.inference.evaluate  # noqa: F401
    import svhn_api.inference.predict  # noqa: F401
    import svhn_api.training.train  # noqa: F401

    for name in ("prepare", "synth", "train", "evaluate", "predict", "read_digitstruct"):
        assert callable(getattr(svhn_api, name)) and not isinstance(getattr(svhn_api, name), type(svhn_api))


@pytest.mark.parametrize("command", ["prepare", "synth", "train", "evaluate", "predict"])
def test_every_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "svhn_api", command, "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "usage: python -m svhn_api " + command in out.stdout


def test_bad_arguments_are_errors_not_tracebacks(tmp_path):
    out = subprocess.run([sys.executable, "-m", "svhn_api", "prepare", "--archives", str(tmp_path), "--splits",
                          "train,bogus", "--no-download"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "error: splits" in out.stderr and "Traceback" not in out.stderr
