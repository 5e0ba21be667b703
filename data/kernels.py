"""The optional C kernels (``data._langid``, ``data._parse``, ``rewards._quote``): each one is
used only when it gives what its Python reference gives on a set of self-check inputs, so that
a stale build of an older version can never change a result, only make it slower.
"""

from __future__ import annotations

import warnings
from typing import Callable, TypeVar

Kernel = TypeVar("Kernel")


def checked_kernel(native: Kernel | None, agrees: Callable[[Kernel], bool],
                   disagreement: str) -> Kernel | None:
    """``native`` when it is built (not ``None``) and ``agrees`` with its reference; ``None``
    when it is not built; ``None`` with ``disagreement`` as a RuntimeWarning when it disagrees.

    >>> checked_kernel(2, lambda kernel: kernel == 2, "never shown"), checked_kernel(None, bool, "")
    (2, None)
    >>> import pytest
    >>> with pytest.warns(RuntimeWarning, match="stale"):
    ...     checked_kernel(3, lambda kernel: kernel == 2, "stale build")
    """
    if native is None or agrees(native):
        return native
    warnings.warn(disagreement, RuntimeWarning, stacklevel=3)
    return None
