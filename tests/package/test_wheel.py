"""The built package, installed outside the checkout and used as an application uses it.

Builds the sdist and, from it, the wheel (``python -m build``); installs the wheel with its
``testing`` extra into a fresh virtual environment in a temporary folder; copies
``tests/package/app`` (an application with its own ``workflows/``, ``activities/``,
``client.py`` and ``worker.py``) next to it and there runs the imports, the ``durable-jobs``
script, the application's tests (a time-skipping round trip of each kind through the
``jobs_env`` fixture, and one worker hosting the application's workflow beside the jobs) and
``mypy --strict`` on typed code that must pass and on mistakes that it must catch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).parent / "app"

pytestmark = pytest.mark.timeout(900)


def run(
    *args: str | Path, cwd: Path, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command with an environment that knows nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        pytest.fail(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the wheel, the fresh venv's bin folder, a copy of the application), outside the checkout."""
    base = tmp_path_factory.mktemp("package")
    dist = base / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=base)
    wheel = next(dist.glob("*.whl"))
    assert next(dist.glob("*.tar.gz"))
    run(sys.executable, "-m", "venv", base / "venv", cwd=base)
    bin_dir = base / "venv" / "bin"
    run(
        bin_dir / "pip",
        "install",
        "--quiet",
        f"{wheel}[testing]",
        "pytest-timeout",
        "mypy",
        cwd=base,
    )
    app = base / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".*_cache"))
    return wheel, bin_dir, app


def test_the_wheel_holds_one_package_with_its_types(installed: tuple[Path, Path, Path]) -> None:
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "durable_jobs",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    assert "durable_jobs/py.typed" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"durable-jobs = durable_jobs.cli:main" in entry_points
    assert b"durable_jobs = durable_jobs.pytest_plugin" in entry_points


def test_only_durable_jobs_lands_in_site_packages(installed: tuple[Path, Path, Path]) -> None:
    _, bin_dir, app = installed
    listing = run(
        bin_dir / "python",
        "-c",
        "import importlib.metadata as m; "
        "print('\\n'.join(sorted({str(f).split('/')[0] for f in "
        "m.files('durable-jobs-temporal')})))",
        cwd=app,
    ).stdout.split()
    assert [name for name in listing if not name.endswith(".dist-info")] == ["..", "durable_jobs"]
    location = run(
        bin_dir / "python", "-c", "import durable_jobs; print(durable_jobs.__file__)", cwd=app
    ).stdout
    assert str(ROOT) not in location and "site-packages" in location


def test_the_public_modules_import(installed: tuple[Path, Path, Path]) -> None:
    _, bin_dir, app = installed
    run(
        bin_dir / "python",
        "-c",
        "import durable_jobs, durable_jobs.errors, durable_jobs.events, durable_jobs.testing, "
        "durable_jobs.codec, durable_jobs.worker, durable_jobs.cli, durable_jobs.pytest_plugin; "
        "from durable_jobs import Continuous, Debounce, Task, DurableJobs, JobsClient, every, "
        "cron, RetryConfig, Backoff, DurableJobsPlugin",
        cwd=app,
    )


def test_the_command_line(installed: tuple[Path, Path, Path]) -> None:
    _, bin_dir, app = installed
    assert "Start, inspect and steer" in run(bin_dir / "durable-jobs", "--help", cwd=app).stdout
    # Outside this repository nothing names a registry: a clear error, not the examples.
    no_registry = run(bin_dir / "durable-jobs", "status", "ticker", "u1", cwd=app, check=False)
    assert no_registry.returncode == 2
    assert no_registry.stderr.startswith("error: no job registry given: pass --jobs")
    missing = run(
        bin_dir / "durable-jobs", "--jobs", "nosuch.jobs:jobs", "worker", cwd=app, check=False
    )
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        "error: --jobs 'nosuch.jobs:jobs': cannot import 'nosuch.jobs': No module named 'nosuch'"
    ]


def test_the_applications_tests_pass(installed: tuple[Path, Path, Path]) -> None:
    _, bin_dir, app = installed
    done = run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=app)
    assert "4 passed" in done.stdout
    assert "1.16.0 or newer" not in done.stdout + done.stderr


def test_mypy_strict_accepts_typed_use(installed: tuple[Path, Path, Path]) -> None:
    _, bin_dir, app = installed
    sources = ["typed_ok.py", "myjobs.py", "client.py", "worker.py", "workflows", "activities"]
    run(bin_dir / "mypy", "--strict", "--no-incremental", *sources, "tests", cwd=app)


def test_mypy_strict_catches_wrong_events_and_reducers(
    installed: tuple[Path, Path, Path],
) -> None:
    _, bin_dir, app = installed
    done = run(
        bin_dir / "mypy", "--strict", "--no-incremental", "typed_wrong.py", cwd=app, check=False
    )
    reported = {
        int(m.group(1)) for m in re.finditer(r"^typed_wrong\.py:(\d+): error:", done.stdout, re.M)
    }
    source = (app / "typed_wrong.py").read_text().splitlines()
    expected = {n for n, line in enumerate(source, 1) if line.rstrip().endswith("# expect-error")}
    assert len(expected) == 4
    assert reported == expected, done.stdout
