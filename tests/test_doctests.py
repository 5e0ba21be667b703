"""Every docstring example of the installed package, each module imported once as ``pleias_rl.*``.

pytest's ``--doctest-modules`` would import ``data/format.py`` as a second module ``data.format``
beside ``pleias_rl.data.format``; this collects the examples through the package instead.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


SUBPACKAGES = ("pleias_rl.data", "pleias_rl.rewards", "pleias_rl.rl", "pleias_rl.critics",
               "pleias_rl.evaluation", "pleias_rl.inference")


def package_modules() -> list[str]:
    """Every module of ``pleias_rl`` (an editable install maps each subpackage to its folder)."""
    names = {"pleias_rl", *SUBPACKAGES}
    for package in ("pleias_rl", *SUBPACKAGES):
        path = importlib.import_module(package).__path__
        names.update(info.name for info in pkgutil.iter_modules(path, package + "."))
    return sorted(names)


MODULES = package_modules()


def test_every_folder_is_a_subpackage_and_nothing_else_is_top_level():
    assert "pleias_rl.data.format" in MODULES and "pleias_rl.rl.grpo" in MODULES
    assert all(name.startswith("pleias_rl") for name in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
