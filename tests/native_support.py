"""Shared by the tests of the native kernels (``data._langid``, ``data._parse``, ``rewards._quote``)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def built_kernel(name: str, package: str = "data") -> ModuleType:
    """The native module ``<package>.<name>``; the test is skipped where it was not built (no C
    compiler at install), except in CI (``CI=true``), which builds it: there a missing kernel fails.
    """
    try:
        return importlib.import_module(f"{package}.{name}")
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"native kernel {package}.{name} not built (no C compiler at install)")
