"""Native kernels, built at install when a C compiler is present (pure-Python fallback otherwise).

Metadata lives in pyproject.toml; this file only declares the optional C extensions:
``data._langid`` (language identification) and ``data._parse`` (parsing clean completions).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(f"data.{name}", [f"data/{name}.c"], optional=True, extra_compile_args=["-O2"])
                   for name in ("_langid", "_parse")])
