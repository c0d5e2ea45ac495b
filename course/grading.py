"""Deprecated: the nbgrader settings live in course/release/config.py.

Workspaces prepared before the toolkit's folders were reorganised have an
``nbgrader_config.py`` that imports ``nbgrader_config`` from here; it keeps working
(``course grade`` rewrites the file the next time it runs in that workspace).
"""
from __future__ import annotations

import warnings

from course.release.config import nbgrader_config

warnings.warn("course.grading is deprecated: import nbgrader_config from course.release.config",
              DeprecationWarning, stacklevel=2)

__all__ = ["nbgrader_config"]
