"""Files shipped inside the package: the YAML recipes (``pleias_rl.configs``) and the samples.

They are found from a checkout and from an installed wheel alike, so ``--config
grpo/pleias-rag-350m`` works wherever ``pleias-rl`` is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "samples"
"""The shipped samples (``data/samples`` in a checkout, ``pleias_rl/data/samples`` installed)."""

RAW_SAMPLES = SAMPLES / "raw"
"""The shipped raw HotpotQA and MuSiQue records."""


def configs_dir() -> Path:
    """The folder of the shipped recipes (``configs/`` in a checkout).

    >>> (configs_dir() / "grpo" / "smoke.yaml").is_file()
    True
    """
    return Path(str(resources.files("pleias_rl.configs")))


def config_path(name_or_path: str | Path) -> Path:
    """A recipe given by path, or by its shipped name (``grpo/smoke``, ``grpo/smoke.yaml`` or
    ``configs/grpo/smoke.yaml`` as written in a checkout); an existing path always wins.

    >>> config_path("grpo/smoke").name, config_path("configs/sft/warmstart.yaml").parent.name
    ('smoke.yaml', 'sft')
    >>> config_path("grpo/none")
    Traceback (most recent call last):
    FileNotFoundError: no recipe 'grpo/none': not a file, nor a shipped recipe (accelerate/cpu2, ..., sft/warmstart)
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    relative = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    shipped = configs_dir().joinpath(*relative) if relative else configs_dir()
    for candidate in (shipped, shipped.with_name(shipped.name + ".yaml")):
        if candidate.is_file():
            return candidate
    names = sorted(f"{p.parent.name}/{p.stem}" for p in configs_dir().glob("*/*.yaml"))
    raise FileNotFoundError(f"no recipe {str(name_or_path)!r}: not a file, nor a shipped recipe "
                            f"({', '.join(names)})")
