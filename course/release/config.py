"""The grading workspace's nbgrader settings, the same for ``course grade`` and for nbgrader's
own tools: the ``nbgrader_config.py`` that :func:`course.release.workspace.prepare` writes
only calls :func:`nbgrader_config`. So ``nbgrader autograde``, ``generate_feedback``,
``collect`` and the formgrader run in a workspace also sandbox student code, run tests in
the trusted checker, carry only notebooks and keep hidden tests out of feedback.
"""
from __future__ import annotations

import logging
import os
import sys
import tomllib
from pathlib import Path

from course.execute import KERNEL_ARGS
from course.grade.sanitize import NBGRADER_FILES

COURSE_ID = "open-dl-course"
SITE_FILE = "course-site.toml"   # a workspace's site settings, kept by `course grade`


def nbgrader_config(root: Path, *, sandbox: bool = True, limits: dict | None = None,
                    warm_kernels: bool = False):
    """Settings of the nbgrader workspace at ``root``; ``nbgrader autograde`` run there by
    hand also sandboxes student code and runs tests in the trusted checker. Kernels are
    started ahead only for ``course grade``'s workers (``warm_kernels``): nbgrader's own
    tools and the formgrader run in processes that would keep an unused one waiting."""
    from traitlets.config import Config

    c = Config()
    # absolute, not resolved: a workspace reached through a link (an instructor's
    # ~/course on a hub) must stay inside their server's folder for the formgrader
    root = Path(root).absolute()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.interrupt_on_timeout = True
    c.Execute.extra_arguments = list(KERNEL_ARGS)
    # Our tests signal failure only by raising; anything on stderr in a test cell is a
    # framework warning or log line, which must not cost points (nbgrader would score 0).
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = r"[\s\S]"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    _exchange(c, root)
    # Only notebooks travel: `nbgrader submit` and `collect` carry the notebooks and
    # nbgrader's own two files (the timestamp; the secret that releases feedback), no
    # other file of a submission. One that still arrives in a grading folder (a
    # submission copied by hand) is removed and named before anything runs
    # (course/grade/sanitize.py).
    c.CourseDirectory.include = list(INCLUDE)
    # nbgrader's autograde copies a submission's other files by `ignore` alone (not
    # `include`): never let it write anything importable into autograded/.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "__pycache__", "feedback", *IMPORTABLE]
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from course.report.feedback import (FeedbackOutputs, GradingStatus, HideHiddenTests,
                                        RedactTracebacks)
    c.GenerateFeedback.preprocessors = [GetGrades, FeedbackOutputs, HideHiddenTests,
                                        RedactTracebacks, GradingStatus,
                                        CSSHTMLHeaderPreprocessor]
    c.NbGraderAPI.log_level = logging.ERROR
    from course.grade.autograde import nbgrader_overrides
    c.merge(nbgrader_overrides(sandbox=sandbox, limits=limits, warm_kernels=warm_kernels))
    return c


# What travels with a submission: its notebooks and nbgrader's own two files.
INCLUDE = ("*.ipynb", *NBGRADER_FILES)
# Files Python would import, or run at start-up, from a folder on its path (a submission
# never needs one: only its notebooks are graded).
IMPORTABLE = ("*.py", "*.pyc", "*.pyw", "*.pyd", "*.so", "*.pth")


def _exchange(c, root: Path) -> None:
    """The workspace's own exchange folder, unless its site file (a hub's: written by
    course/release/hub.py) names the shared one, or ngshare."""
    site = root / SITE_FILE
    data = tomllib.loads(site.read_text()) if site.is_file() else {}
    if data.get("exchange") == "ngshare":
        import getpass
        os.environ.setdefault("USER", getpass.getuser())  # ngshare_exchange reads it on import
        from ngshare_exchange import configureExchange
        configureExchange(c, str(data["ngshare_url"]))
    else:
        c.Exchange.root = str(data.get("exchange_root") or root / "exchange")


def _ensure_venv_on_path() -> None:
    # nbgrader runs the `alembic` executable by name: it must resolve to this environment's.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def nbgrader_api(root: Path, **kw):
    _ensure_venv_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(root, **kw)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)
