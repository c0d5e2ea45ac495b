"""Notebook start-up: one call seeds, picks the device and quiets the frameworks.

Every lesson and assignment starts with ``env = course.setup("pytorch")`` (or
``"tensorflow"``) *before* importing the framework: TensorFlow reads its logging
and oneDNN switches once, at import time.
"""
from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course.frameworks import FRAMEWORKS, TF_QUIET, framework_of, quiet_tensorflow

__all__ = ["FRAMEWORKS", "Env", "framework_name", "quiet_tensorflow", "setup"]


def framework_name(name: str) -> str:
    """Normalise 'torch', 'tf', 'keras', ... to 'pytorch' / 'tensorflow' / 'numpy'."""
    if isinstance(name, str) and name.lower() in ("numpy", "np"):
        return "numpy"
    fw = framework_of(name) if isinstance(name, str) else None
    if fw is None:
        raise ValueError(f"unknown framework {name!r}: use 'pytorch' or 'tensorflow'")
    return fw


@dataclass
class Env:
    """What :func:`setup` chose. ``env.device`` is what you pass to the framework."""
    framework: str
    seed: int
    device: Any
    gpu: bool
    versions: dict = field(default_factory=dict)

    def scale(self, cpu, gpu):
        """Pick the CPU-budget value or the larger GPU value (data size, epochs...)."""
        return gpu if self.gpu else cpu

    def summary(self) -> str:
        parts = [f"{k} {v}" for k, v in self.versions.items()]
        return " · ".join(parts + [f"device {self.device}", f"seed {self.seed}"])


def _gpu_allowed() -> bool:
    # COURSE_FORCE_CPU=1 lets an instructor reproduce the CPU path on a GPU machine.
    return os.environ.get("COURSE_FORCE_CPU", "") not in ("1", "true", "yes")


def _setup_torch(seed: int, deterministic: bool):
    import torch

    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matmuls on CUDA.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    if _gpu_allowed() and torch.cuda.is_available():
        device = torch.device("cuda")
        torch.cuda.manual_seed_all(seed)
    elif _gpu_allowed() and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    return device, device.type != "cpu", {"PyTorch": torch.__version__.split("+")[0]}


def _setup_tensorflow(seed: int, deterministic: bool):
    quiet = all(os.environ.get(k) == v for k, v in TF_QUIET.items())
    if "tensorflow" in sys.modules and not quiet:
        print("note: TensorFlow was imported before course.setup(); its start-up logs may show.",
              file=sys.stdout)
    quiet_tensorflow()
    import tensorflow as tf
    import keras

    tf.get_logger().setLevel("ERROR")
    gpus = tf.config.list_physical_devices("GPU") if _gpu_allowed() else []
    if not _gpu_allowed():
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # devices already initialised: nothing to hide any more
            pass
    for gpu in gpus:
        # Grow on demand so that a PyTorch process can share the same GPU.
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    device = "/GPU:0" if gpus else "/CPU:0"
    return device, bool(gpus), {"TensorFlow": tf.__version__, "Keras": keras.__version__}


def setup(framework: str = "pytorch", seed: int = 0, *, deterministic: bool = True,
          verbose: bool = True) -> Env:
    """Seed Python, NumPy and the framework, pick the device, print one summary line.

    Returns an :class:`Env`; ``env.device`` is a ``torch.device`` for PyTorch and a
    device string such as ``"/GPU:0"`` for TensorFlow, and ``env.scale(cpu, gpu)``
    picks a workload size for the hardware found.
    """
    fw = framework_name(framework)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed)
    versions = {"Python": platform.python_version(), "NumPy": np.__version__}
    if fw == "pytorch":
        device, gpu, more = _setup_torch(seed, deterministic)
    elif fw == "tensorflow":
        device, gpu, more = _setup_tensorflow(seed, deterministic)
    else:
        device, gpu, more = "cpu", False, {}
    versions.update(more)
    _matplotlib_defaults()
    env = Env(framework=fw, seed=seed, device=device, gpu=gpu, versions=versions)
    if verbose:
        print(env.summary())
    return env


def _matplotlib_defaults() -> None:
    try:
        import matplotlib as mpl
    except ImportError:
        return
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.6), "figure.dpi": 80, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        # Stable SVG ids/hashes keep stored notebook outputs reproducible.
        "svg.hashsalt": "course", "path.simplify": True,
    })
