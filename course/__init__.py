"""Toolkit for the open deep-learning course.

Inside notebooks: ``import course; env = course.setup("pytorch")``.
For instructors: the ``course`` command (see ``course --help``).

This module stays light: importing it must not import torch or TensorFlow,
so that the data layer and the CLI start fast.
"""
from course.runtime import setup, Env

__version__ = "0.1.0"
__all__ = ["setup", "Env", "__version__"]
