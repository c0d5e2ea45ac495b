"""The two frameworks, their names, and how to keep TensorFlow quiet: defined once.

Imports nothing: the notebook runtime, the data layer, the zoo, the sandbox and the
grader all take their framework names and TensorFlow's quiet environment from here.
"""
from __future__ import annotations

import os

FRAMEWORKS = ("pytorch", "tensorflow")
TITLES = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
# What people write for each framework (file names, zoo arguments, course.setup).
ALIASES = {"pytorch": "pytorch", "torch": "pytorch", "pt": "pytorch",
           "tensorflow": "tensorflow", "tf": "tensorflow", "keras": "tensorflow"}

# TensorFlow reads these once, at import: its C++ log lines would land on stderr, where
# nbgrader scores a test cell 0, and oneDNN makes results depend on the thread count.
TF_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def framework_of(name: str) -> str | None:
    """'torch', 'tf', 'keras', ... -> 'pytorch' / 'tensorflow'; None if it is neither."""
    return ALIASES.get(str(name).lower())


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ logs; effective only before TF is imported."""
    for key, value in TF_QUIET.items():
        os.environ.setdefault(key, value)
