"""Native kernels, built at install when a C compiler is present (pure-Python fallback otherwise).

Metadata lives in pyproject.toml; this file only declares the optional C extensions:
``data._langid`` (language identification), ``data._parse`` (parsing clean completions) and
``rewards._quote`` (examining quotes and judging refs for the citation reward).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(name, [name.replace(".", "/") + ".c"], optional=True, extra_compile_args=["-O2"])
                   for name in ("data._langid", "data._parse", "rewards._quote")])
