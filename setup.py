"""Native kernels, built at install when a C compiler is present (pure-Python fallback otherwise).

Metadata lives in pyproject.toml; this file only declares the optional C extensions.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("data._langid", ["data/_langid.c"], optional=True,
                             extra_compile_args=["-O2"])])
