"""CI's own checks cannot pass by accident: a failing install stops ``.ci/run``, and under
``CI=true`` a skip that hides a missing test dependency fails the run (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI_DIR = ROOT / ".ci"


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_failing_install_stops_the_ci_script(tmp_path):
    # .ci/run's header and its install step, with a requirement that cannot install
    # (a local path that does not exist: no registry is asked).
    header = next(line for line in (CI_DIR / "run").read_text().splitlines() if line.startswith("set -"))
    assert "-e" in header and "pipefail" in header
    script = f"""{header}
python() {{ {sys.executable} "$@"; }}
. {CI_DIR / "steps.sh"}
install {tmp_path / "no-such-project"}
echo STEP-AFTER-INSTALL-RAN
"""
    done = _bash(script, tmp_path)
    assert done.returncode != 0
    assert "STEP-AFTER-INSTALL-RAN" not in done.stdout
    assert "no-such-project" in done.stderr, done.stderr  # pip's own failure, not a broken script
    # and the same script with an install that succeeds (pip, already there: offline) goes
    # on: the check above is about the install failing, not the script failing regardless.
    ok = script.replace(str(tmp_path / "no-such-project"), "--no-index --no-deps pip")
    done = _bash(ok, tmp_path)
    assert "STEP-AFTER-INSTALL-RAN" in done.stdout, done.stderr


def _commands(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.mark.parametrize("name", ["run", "steps.sh"])
def test_ci_steps_are_not_chained(name):
    # `a && b` under `set -e` does not stop on a failing `a`; `a || true` hides it.
    chained = [ln for ln in _commands(CI_DIR / name) if re.search(r"&&|\|\|", ln)]
    assert chained == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the script reads pyproject.toml with tomllib (3.11+), as CI runs it")
def test_minimum_constraints_pin_every_runtime_dependency():
    pytest.importorskip("packaging")  # a dependency of pytest itself
    out = subprocess.run([sys.executable, str(CI_DIR / "minimum_constraints.py"), str(ROOT / "pyproject.toml")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert sorted(p.split("==")[0].lower().replace("-", "_") for p in out) == ["ml_dtypes", "numpy"], out
    assert all(re.fullmatch(r"[\w.-]+==\d+(\.\d+)+", p) for p in out), out


# --- CI=true: skips that hide a missing dependency fail -----------------------------

SKIPPING_TESTS = '''
import pytest

@pytest.mark.tf
def test_marked_tf_and_skipped():
    pytest.skip("no reason at all")

def test_importorskip_of_a_test_dependency():
    pytest.importorskip("bundlefast_no_such_module")

def test_an_honest_skip():
    pytest.skip("needs FIFOs")
'''

MODULE_LEVEL_IMPORTORSKIP = '''
import pytest
tf = pytest.importorskip("tensorflow_not_installed_here")

def test_never_collected():
    pass
'''


def _pytest_in(tmp_path: Path, files: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    tf: compares against TensorFlow\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "BUNDLEFAST_TESTS_WITHOUT_TF")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, env={**environ, **env}, timeout=120)


def test_outside_ci_such_skips_are_skips(tmp_path):
    done = _pytest_in(tmp_path, {"test_skips.py": SKIPPING_TESTS})
    assert done.returncode == 0, done.stdout
    assert "3 skipped" in done.stdout


def test_under_ci_a_skipped_tf_test_or_importorskip_fails(tmp_path):
    done = _pytest_in(tmp_path, {"test_skips.py": SKIPPING_TESTS}, CI="true")
    assert done.returncode == 1, done.stdout
    assert "2 failed, 1 skipped" in done.stdout
    assert "FAILED test_skips.py::test_marked_tf_and_skipped" in done.stdout
    assert "FAILED test_skips.py::test_importorskip_of_a_test_dependency" in done.stdout


def test_under_ci_a_module_level_importorskip_fails(tmp_path):
    done = _pytest_in(tmp_path, {"test_module.py": MODULE_LEVEL_IMPORTORSKIP}, CI="true")
    assert done.returncode != 0, done.stdout
    assert "ERROR test_module.py" in done.stdout


def test_a_run_without_tf_on_purpose_may_skip_tf_only(tmp_path):
    files = {"test_skips.py": SKIPPING_TESTS, "test_module.py": MODULE_LEVEL_IMPORTORSKIP.replace(
        "tensorflow_not_installed_here", "tensorflow"), "test_imports_tf.py": "import tensorflow\n"}
    # A stand-in tensorflow that fails to import, as tests/sanitize/run_asan.sh uses.
    (tmp_path / "no-tf" / "tensorflow").mkdir(parents=True)
    (tmp_path / "no-tf" / "tensorflow" / "__init__.py").write_text(
        'raise ModuleNotFoundError("left out on purpose", name="tensorflow")\n')
    done = _pytest_in(tmp_path, files, CI="true", BUNDLEFAST_TESTS_WITHOUT_TF="1",
                      PYTHONPATH=str(tmp_path / "no-tf"))
    # the tf-marked test and the module importing tensorflow may skip; crc32c-like deps may not
    assert done.returncode == 1, done.stdout
    assert "1 failed, 4 skipped" in done.stdout, done.stdout
    assert "FAILED test_skips.py::test_importorskip_of_a_test_dependency" in done.stdout
    # Without that declaration the same unconditional import is an error under CI.
    done = _pytest_in(tmp_path, {"test_imports_tf.py": "import tensorflow\n"}, CI="true",
                      PYTHONPATH=str(tmp_path / "no-tf"))
    assert done.returncode != 0 and "ERROR test_imports_tf.py" in done.stdout, done.stdout
