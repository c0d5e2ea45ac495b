"""Imports a kernel started ahead makes before any notebook is known (course/grade/sandbox/warm.py).

Only ``sys.modules`` changes: no name is bound in the student's namespace, so a notebook
that forgets ``import torch`` fails as it would anywhere. What is imported is what every
notebook of that framework imports first anyway, from the read-only environment.
"""
from __future__ import annotations

import importlib

COMMON = ("numpy", "matplotlib.pyplot", "course.runtime", "course.check")
# torch._inductor.config: torch.use_deterministic_algorithms (course.setup) imports it.
FRAMEWORK_MODULES = {"pytorch": ("torch", "torch.nn.functional", "torch._inductor.config"),
                     "tensorflow": ("tensorflow", "keras")}


def modules(framework: str) -> tuple:
    return (*COMMON, *FRAMEWORK_MODULES.get(framework, ()))


def load(framework: str) -> None:
    for name in modules(framework):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the notebook's own import will say what is wrong
            pass


def exec_line(framework: str) -> str:
    """An IPython start-up line that loads ``framework`` and leaves no name behind."""
    return f"__import__('course.inkernel.preload').inkernel.preload.load({framework!r})"
