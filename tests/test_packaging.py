"""The wheel, installed (not editable) with the base install only into a fresh virtual
environment without system site packages, run from a directory holding its own ``data/``,
``rewards/`` and ``rl/`` packages: one import name (``pleias_rl``), recipes and samples as
package data, ``pleias-rl score`` working without torch, and the ``[train]`` extra named by
the commands that need it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_SHIPPED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", "runs", "outputs", "tests", "benchmarks")


def run(*command: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if ok:
        assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the working tree (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source") / "pleias-rl"
    shutil.copytree(REPO, source, ignore=NOT_SHIPPED)
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source,
        cwd=out)
    (built,) = out.glob("pleias_rl-*.whl")
    return built


@pytest.fixture(scope="module")
def environment(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no system site packages) with the wheel's base install."""
    env = tmp_path_factory.mktemp("env") / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    run(env / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=env)
    return env


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's project with its own ``data``, ``rewards`` and ``rl`` packages."""
    project = tmp_path_factory.mktemp("user-project")
    for name in ("data", "rewards", "rl"):
        (project / name).mkdir()
        (project / name / "__init__.py").write_text(f"OWNER = 'user {name}'\n")
    (project / "data" / "schema.py").write_text("raise ImportError('the user schema')\n")
    return project


@pytest.mark.slow
def test_wheel_ships_one_top_level_package_with_recipes_and_samples(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [name for name in names if name.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["pleias_rl"]
        (record,) = [name for name in names if name.endswith(".dist-info/RECORD")]
        paths = [line.split(",")[0] for line in archive.read(record).decode().splitlines()]
    assert {path.split("/")[0] for path in paths} == {"pleias_rl", top_level.split("/")[0]}
    assert {"pleias_rl/configs/grpo/smoke.yaml", "pleias_rl/data/samples/sft.jsonl",
            "pleias_rl/data/jsonl.py", "pleias_rl/cli.py"} <= set(paths)


@pytest.mark.slow
def test_installed_wheel_scores_from_a_project_with_its_own_data_package(environment: Path,
                                                                         user_project: Path) -> None:
    python, pleias_rl = environment / "bin" / "python", environment / "bin" / "pleias-rl"
    probe = ("import json, data, rewards, rl, pleias_rl.rewards\n"
             "from pleias_rl.rewards import citation_reward\n"
             "from pleias_rl.data.resources import SAMPLES, config_path\n"
             "print(json.dumps({'user': [data.OWNER, rewards.OWNER, rl.OWNER],\n"
             "    'ours': pleias_rl.rewards.__file__, 'samples': str(SAMPLES),\n"
             "    'recipe': str(config_path('grpo/smoke')), 'reward': callable(citation_reward)}))\n")
    found = json.loads(run(python, "-c", probe, cwd=user_project).stdout)
    site = str(environment / "lib")
    assert found["user"] == ["user data", "user rewards", "user rl"] and found["reward"]
    assert found["ours"].startswith(site) and found["recipe"].startswith(site)
    sample = Path(found["samples"]) / "sft.jsonl"
    done = run(pleias_rl, "score", sample, "-o", user_project / "scored.jsonl", "--workers", "2",
               cwd=user_project)
    assert "153 rows written, 0 malformed lines skipped" in done.stdout
    scored = [json.loads(line) for line in (user_project / "scored.jsonl").read_text().splitlines()]
    assert len(scored) == 153 and all(row["rewards"]["format"] == 1.0 for row in scored)
    assert run(python, "-c", "import torch", cwd=user_project, ok=False).returncode == 1
    assert run(pleias_rl, "quickstart", "--help", cwd=user_project).stdout.startswith("usage: pleias-rl quickstart")
    needs_extra = run(pleias_rl, "grpo", "--config", "grpo/smoke", cwd=user_project, ok=False)
    assert needs_extra.returncode == 2
    assert needs_extra.stderr.endswith("is not installed): pip install 'pleias-rl[train]'\n")
    installed = run(python, "-m", "pip", "show", "-f", "pleias-rl", cwd=user_project).stdout
    files = installed.split("Files:", 1)[1].split()
    assert {path.split("/")[0] for path in files if not path.startswith("..")} == {
        "pleias_rl", next(path.split("/")[0] for path in files if ".dist-info" in path)}
