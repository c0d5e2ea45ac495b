"""The Jupyter configuration files of a hub class (written by course/release/hub.py).

* ``etc/common/nbgrader_config.py``: every user's nbgrader settings: the course id and
  the exchange (nbgrader's file-system exchange, or ngshare);
* ``etc/instructor/nbgrader_config.py``: where the grading workspace is;
* ``etc/student/...``: nbgrader's instructor tools switched off (formgrader, course
  list, create assignment), server side and in JupyterLab; the *Assignments* tab and
  *Validate* stay;
* ``course/course-site.toml``: the exchange, for the workspace's own config
  (course/release/config.py reads it, so ``course grade`` keeps it).
"""
from __future__ import annotations

import json

from course.release.config import COURSE_ID, INCLUDE

INSTRUCTOR_TOOLS_SERVER = ("nbgrader.server_extensions.formgrader",
                           "nbgrader.server_extensions.course_list")
INSTRUCTOR_TOOLS_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                        "@jupyter/nbgrader:course-list")


def ngshare_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/services/ngshare"


def common_config(hub, exchange: str, port: int = 8000) -> str:
    lines = ["# Written by `course hub up`: every user's nbgrader settings.",
             "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {COURSE_ID!r}",
             "# Only notebooks travel (a student's other files never reach grading).",
             f"c.CourseDirectory.include = {list(INCLUDE)!r}"]
    if exchange == "ngshare":
        lines += ["from ngshare_exchange import configureExchange",
                  f"configureExchange(c, {ngshare_url(port)!r})"]
    else:
        lines.append(f"c.Exchange.root = {str(hub.exchange)!r}")
    return "\n".join(lines) + "\n"


def instructor_config(hub) -> str:
    # Through the link in the instructor's home: nbgrader's formgrader wants the workspace
    # inside the folder the instructor's server serves.
    return ("# Written by `course hub up`: the grading workspace (formgrader, nbgrader's tools).\n"
            "import os\n"
            "c = get_config()  # noqa: F821\n"
            "c.CourseDirectory.root = os.path.expanduser('~/course')  # a link to "
            f"{hub.course}\n")


def student_config() -> dict:
    server = {"ServerApp": {"jpserver_extensions": {name: False for name in INSTRUCTOR_TOOLS_SERVER}}}
    lab = {"disabledExtensions": {name: True for name in INSTRUCTOR_TOOLS_LAB}}
    return {"jupyter_server_config.d/course-student.json": json.dumps(server, indent=1) + "\n",
            "labconfig/page_config.json": json.dumps(lab, indent=1) + "\n"}


def course_site(hub, exchange: str, port: int = 8000) -> str:
    if exchange == "ngshare":
        return f'# Written by `course hub up`.\nexchange = "ngshare"\nngshare_url = "{ngshare_url(port)}"\n'
    return f'# Written by `course hub up`.\nexchange = "filesystem"\nexchange_root = "{hub.exchange}"\n'
