"""A real ``transformers serve`` on localhost serving the tiny local model (shared test helper).

Use the context manager directly, or the pytest fixtures by importing them into a test module::

    from llm_server import served_tiny_model, tiny_model_dir  # noqa: F401  (pytest fixtures)

    def test_something(served_tiny_model):
        backend = OpenAIBackend(served_tiny_model.base_url, served_tiny_model.model)

The server runs offline (``HF_HUB_OFFLINE=1``) on 127.0.0.1 at a free port, pinned to the
model directory (``transformers serve DIR``), so requests may omit ``model`` or send the
directory path. Every wait is bounded; the process is stopped (and reaped) on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest

STARTUP_TIMEOUT = 180.0
"""Seconds allowed for the server to load the model and answer ``/health`` (shared slow CPU)."""

TINY_MODEL_DIR = Path(tempfile.gettempdir()) / "pleias-rl-tests" / "tiny-llama"
"""Where the tiny model is built once and reused by every test run."""


@dataclass
class ServedModel:
    """A running server: ``base_url`` ends with ``/v1``; ``model`` is the pinned model name."""

    base_url: str
    model: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds) and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        """The server's combined output so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(model_dir: Path, port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """The command line that serves ``model_dir`` on 127.0.0.1:``port`` on the CPU.

    ``extra_args`` go to ``transformers serve`` as-is (e.g. ``["--continuous-batching"]``).

    >>> serve_command(Path("/m"), 8000)[-12:-6]
    ['serve', '/m', '--host', '127.0.0.1', '--port', '8000']
    """
    executable = shutil.which("transformers")
    head = [executable] if executable else [sys.executable, "-m", "transformers.cli.transformers"]
    return head + ["serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
                   "--device", "cpu", "--dtype", "float32", "--log-level", "warning", *extra_args]


def _wait_ready(served: ServedModel, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    health = served.base_url[:-3] + "/health"
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {served.process.returncode}:\n{served.log()[-3000:]}")
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    served.kill()
    raise TimeoutError(f"transformers serve not ready after {timeout:.0f}s:\n{served.log()[-3000:]}")


@contextmanager
def serve_model(model_dir: Path, startup_timeout: float = STARTUP_TIMEOUT,
                extra_args: Sequence[str] = ()) -> Iterator[ServedModel]:
    """Start ``transformers serve`` on ``model_dir``, wait until healthy, yield it, stop it."""
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="transformers-serve-", suffix=".log")[1])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(serve_command(model_dir, port, extra_args), stdout=log, stderr=subprocess.STDOUT,
                                   env=env, stdin=subprocess.DEVNULL)
    served = ServedModel(f"http://127.0.0.1:{port}/v1", str(model_dir), process, log_path)
    try:
        _wait_ready(served, startup_timeout)
        yield served
    finally:
        served.stop()
        log_path.unlink(missing_ok=True)


@contextmanager
def serve_tiny_model(startup_timeout: float = STARTUP_TIMEOUT,
                     extra_args: Sequence[str] = ()) -> Iterator[ServedModel]:
    """Build (once) the tiny local Llama of :mod:`pleias_rl.inference.tiny` and serve it; see :func:`serve_model`."""
    from pleias_rl.inference.tiny import build_tiny_model

    with serve_model(build_tiny_model(TINY_MODEL_DIR), startup_timeout, extra_args) as served:
        yield served


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny local model directory (built once per machine, reused)."""
    from pleias_rl.inference.tiny import build_tiny_model

    return build_tiny_model(TINY_MODEL_DIR)


@pytest.fixture(scope="session")
def served_tiny_model() -> Iterator[ServedModel]:
    """One ``transformers serve`` of the tiny model shared by the whole test session."""
    with serve_tiny_model() as served:
        yield served
