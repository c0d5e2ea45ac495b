"""A class on one JupyterHub server, brought up from a roster and torn down again.

``course hub up ROSTER`` makes, on this machine (as root):

* Unix users and two groups (``course-instructors``, ``course-students``), homes 0700;
* the hub's folder (default ``/srv/open-dl-course``):

  ====================  ======================================================================
  ``exchange/``         nbgrader's file-system exchange, mode 0777 as nbgrader wants it
  ``course/``           the grading workspace (root:course-instructors 2770: students never)
  ``lib/``              the toolkit students' kernels import (``course`` alone, no solutions)
  ``lessons/``          the executed lessons, read-only; each home links to it
  ``etc/``              Jupyter config per role (nbgrader exchange, extensions on or off)
  ``hub/``              JupyterHub's state (root 0700): database, secrets, ``hub.json``
  ====================  ======================================================================

* the roster's students in the workspace's gradebook (names and emails for the formgrader);
* the repository itself closed to students (group course-instructors, no access for
  others): its ``solutions/``, ``units/`` and git history hold the hidden tests.

Every step first checks whether it is already done, so a second run changes nothing;
``--dry-run`` prints the steps without doing them. ``course hub down`` removes what
``up`` made (users, groups, the hub folder) and gives the repository its mode back.
JupyterHub itself runs with ``deploy/jupyterhub/jupyterhub_config.py``, which reads
``hub/hub.json``.
"""
from __future__ import annotations

import csv
import grp
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.frameworks import FRAMEWORKS, TF_QUIET
from course.grade.records import GradingError
from course.layout import Layout, Unit
from course.release.steps import (Step, copy_read_only, folder_step, group_exists, has_mode,
                                  in_group, same_tree, sh, unix_user,
                                  write_step)

ROLES = ("instructor", "student")
GROUPS = {"instructor": "course-instructors", "student": "course-students"}
DEFAULT_ROOT = Path("/srv/open-dl-course")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    name: str = ""
    email: str = ""
    password: str = ""          # for PAM logins where the hub uses them (optional)


def read_roster(path: Path) -> list[Person]:
    """``username,role[,name,email,password]`` per line (role: instructor or student)."""
    people, seen = [], set()
    with Path(path).open(newline="") as fh:
        for number, row in enumerate(csv.DictReader(fh), start=2):
            user = (row.get("username") or "").strip()
            role = (row.get("role") or "").strip().lower()
            where = f"{path}:{number}"
            if not _USERNAME.match(user):
                raise GradingError(f"{where}: {user!r} is not a valid Unix user name")
            if role not in ROLES:
                raise GradingError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
            if user in seen:
                raise GradingError(f"{where}: {user} appears twice")
            seen.add(user)
            people.append(Person(user, role, (row.get("name") or "").strip(),
                                 (row.get("email") or "").strip(),
                                 (row.get("password") or "").strip()))
    if not any(p.role == "instructor" for p in people):
        raise GradingError(f"{path}: no instructor in the roster")
    return people


@dataclass
class Hub:
    """Where a hub's parts live."""
    root: Path = DEFAULT_ROOT

    exchange = property(lambda self: self.root / "exchange")
    course = property(lambda self: self.root / "course")
    lib = property(lambda self: self.root / "lib")
    lessons = property(lambda self: self.root / "lessons")
    etc = property(lambda self: self.root / "etc")
    state_dir = property(lambda self: self.root / "hub")
    state_file = property(lambda self: self.root / "hub" / "hub.json")

    def config_path(self, role: str) -> str:
        """JUPYTER_CONFIG_PATH for a user of ``role`` (their role's folder first)."""
        return os.pathsep.join([str(self.etc / role), str(self.etc / "common")])


@dataclass
class HubState:
    """What ``up`` made and the hub config needs (hub/hub.json)."""
    root: str
    repo: str
    python: str                      # the environment every user's server runs in
    mirror: str | None
    people: list = field(default_factory=list)
    exchange: str = "filesystem"     # or "ngshare"
    ngshare_python: str | None = None
    port: int = 8000                 # the hub's public port (ngshare is reached through it)
    repo_mode: int | None = None     # the repository's mode and group before ``up``
    repo_gid: int | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "HubState":
        return cls(**json.loads(Path(path).read_text()))


def server_environment(state: HubState, role: str) -> dict[str, str]:
    """What the hub gives the server (and so the kernels) of a ``role`` user
    (deploy/jupyterhub/jupyterhub_config.py): the course's environment, the toolkit copy
    on the import path (never the repository: its solutions and hidden tests), the data
    mirror with downloads off, TensorFlow quiet, and the role's Jupyter config first."""
    hub = Hub(Path(state.root))
    env = {"PATH": f"{Path(state.python).parent}:/usr/local/bin:/usr/bin:/bin",
           "PYTHONPATH": str(hub.lib),
           "COURSE_DATA_REGISTRY": str(hub.lib / "datasets" / "registry.toml"),
           "COURSE_DATA_OFFLINE": "1",
           "JUPYTER_PREFER_ENV_PATH": "0",
           "JUPYTER_CONFIG_PATH": hub.config_path(role),
           **TF_QUIET}
    if state.mirror:
        env["COURSE_DATA_MIRROR"] = state.mirror
    return env


# ----------------------------------------------------------------------------- up

def plan_up(people: list[Person], hub: Hub, layout: Layout, units: list[Unit], *,
            mirror: Path | None, python: str | None = None, exchange: str = "filesystem",
            ngshare_python: str | None = None, port: int = 8000) -> list[Step]:
    from course.release.hubfiles import common_config, course_site, instructor_config, student_config
    python = python or sys.executable
    steps = [Step(f"add group {g}", lambda g=g: group_exists(g), lambda g=g: sh("groupadd", g))
             for g in GROUPS.values()]
    for person in people:
        group = GROUPS[person.role]
        steps.append(Step(f"add user {person.username} ({person.role})",
                          lambda p=person: unix_user(p.username) is not None,
                          lambda p=person, g=group: _add_user(p, g)))
        steps.append(Step(f"put {person.username} in {group}",
                          lambda p=person, g=group: in_group(p.username, g),
                          lambda p=person, g=group: sh("usermod", "--append", "--groups", g,
                                                        p.username)))
        steps.append(Step(f"close {person.username}'s home to others (0700)",
                          lambda p=person: (u := unix_user(p.username)) is not None
                          and has_mode(Path(u.pw_dir), 0o700, u.pw_uid),
                          lambda p=person: os.chmod(unix_user(p.username).pw_dir, 0o700)))
    steps += [
        folder_step(hub.root, 0o755),
        folder_step(hub.exchange, 0o777),
        folder_step(hub.course, 0o2770, GROUPS["instructor"]),
        folder_step(hub.state_dir, 0o700),
        Step(f"copy the toolkit (course/ and the data registry) to {hub.lib}",
             lambda: same_tree(layout.root / "course", hub.lib / "course")
             and same_tree(layout.root / "datasets", hub.lib / "datasets"),
             lambda: [copy_read_only(layout.root / "course", hub.lib / "course"),
                      copy_read_only(layout.root / "datasets", hub.lib / "datasets")]),
        Step(f"copy the lessons to {hub.lessons} (read-only)",
             lambda: same_tree(layout.lessons, hub.lessons),
             lambda: copy_read_only(layout.lessons, hub.lessons)),
    ]
    for person in people:
        steps.append(_link(person, "lessons", hub.lessons))
        if person.role == "instructor":
            steps.append(_link(person, "course", hub.course))
    steps += [
        write_step(hub.etc / "common" / "nbgrader_config.py", common_config(hub, exchange, port)),
        write_step(hub.etc / "instructor" / "nbgrader_config.py", instructor_config(hub)),
        *[write_step(hub.etc / "student" / rel, text) for rel, text in student_config().items()],
        write_step(hub.course / "course-site.toml", course_site(hub, exchange, port)),
    ]
    steps += [_prepared(unit, hub) for unit in units]
    steps.append(_students_in_gradebook(people, hub))
    steps.append(_course_group_access(hub))
    state = HubState(str(hub.root), str(layout.root), python, str(mirror) if mirror else None,
                     [asdict(p) for p in people], exchange, ngshare_python, port)
    steps.append(_state_step(hub, state, layout.root))
    steps.append(_closed_repo(layout.root))
    return steps


def _add_user(person: Person, group: str) -> None:
    sh("useradd", "--create-home", "--shell", "/bin/bash", "--groups", group, person.username)
    if person.password:   # for PAM logins; set once, when the user is made
        subprocess.run(["chpasswd"], input=f"{person.username}:{person.password}\n", text=True,
                       check=True, capture_output=True)


def _link(person: Person, name: str, to: Path) -> Step:
    def link():
        u = unix_user(person.username)
        return Path(u.pw_dir) / name if u else Path("/nonexistent")

    def do():
        target = link()
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(to)
    return Step(f"link {person.username}'s ~/{name} to {to}",
                lambda: link().is_symlink() and os.readlink(link()) == str(to), do)


def _prepared(unit: Unit, hub: Hub) -> Step:
    def current(fw: str) -> bool:
        source = hub.course / "source" / unit.slug / f"{fw}.ipynb"
        return source.is_file() and source.read_bytes() == unit.solution(fw).read_bytes()

    def done():
        return all(map(current, FRAMEWORKS)) and (hub.course / "release" / unit.slug).is_dir()

    def do():
        from course.release.workspace import prepare
        prepare(unit, hub.course)
    return Step(f"prepare {unit.slug} in the grading workspace (source, student version)",
                done, do)


def _students_in_gradebook(people: list[Person], hub: Hub) -> Step:
    """The roster's students in nbgrader's gradebook, so the formgrader shows their names."""
    db = hub.course / "gradebook.db"
    students = [p for p in people if p.role == "student"]

    def wanted(p: Person) -> dict:
        first, _, last = p.name.partition(" ")
        return {"first_name": first or None, "last_name": last or None, "email": p.email or None}

    def done():
        if not db.is_file():            # checking must not create it (a dry run changes nothing)
            return False
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{db}") as gb:
            have = {s.id: s for s in gb.students}
            return all(p.username in have and all(getattr(have[p.username], k) == v
                                                  for k, v in wanted(p).items())
                       for p in students)

    def do():
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{db}") as gb:
            for p in students:
                gb.update_or_create_student(p.username, **wanted(p))
    return Step(f"put the roster's {len(students)} students (names, emails) in the gradebook",
                done, do)


def _course_group_access(hub: Hub) -> Step:
    """Everything in the workspace belongs to the instructors' group, readable and
    writable by it, new folders inheriting the group (setgid); nothing for others."""
    def paths():
        return [hub.course, *hub.course.rglob("*")]

    def gid():
        return grp.getgrnam(GROUPS["instructor"]).gr_gid

    def ok(p: Path) -> bool:
        st = p.lstat()
        mode = stat.S_IMODE(st.st_mode)
        want = 0o2770 if p.is_dir() else 0o660
        return st.st_gid == gid() and (mode & 0o7777) == want

    def do():
        for p in paths():
            os.chown(p, -1, gid())
            os.chmod(p, 0o2770 if p.is_dir() else 0o660)
    return Step(f"give the instructors' group (only) the workspace {hub.course}",
                lambda: group_exists(GROUPS["instructor"]) and all(ok(p) for p in paths()), do)


def _closed_repo(repo: Path) -> Step:
    def done():
        st = repo.stat()
        return stat.S_IMODE(st.st_mode) & 0o007 == 0 and \
            st.st_gid == grp.getgrnam(GROUPS["instructor"]).gr_gid

    def do():
        os.chown(repo, -1, grp.getgrnam(GROUPS["instructor"]).gr_gid)
        os.chmod(repo, (stat.S_IMODE(repo.stat().st_mode) & 0o770) | 0o050)
    return Step(f"close the repository {repo} to students (its solutions and hidden tests)",
                done, do)


def _state_step(hub: Hub, state: HubState, repo: Path) -> Step:
    """Written before the repository is closed: it keeps the repository's mode from the
    first ``up``, for ``down`` to give back."""
    def wanted() -> HubState:
        if hub.state_file.exists():
            old = HubState.load(hub.state_file)
            state.repo_mode, state.repo_gid = old.repo_mode, old.repo_gid
        else:
            st = repo.stat()
            state.repo_mode, state.repo_gid = stat.S_IMODE(st.st_mode), st.st_gid
        return state

    def do():
        wanted().save(hub.state_file)
        os.chmod(hub.state_file, 0o600)
    return Step(f"record the class in {hub.state_file}",
                lambda: hub.state_file.is_file() and HubState.load(hub.state_file) == wanted(), do)


# ----------------------------------------------------------------------------- down

def plan_down(hub: Hub) -> list[Step]:
    if not hub.state_file.exists():
        return []
    state = HubState.load(hub.state_file)
    steps = []
    repo = Path(state.repo)
    if state.repo_mode is not None and repo.exists():
        steps.append(Step(f"give the repository {repo} its mode back ({state.repo_mode:o})",
                          lambda: stat.S_IMODE(repo.stat().st_mode) == state.repo_mode,
                          lambda: (os.chown(repo, -1, state.repo_gid), os.chmod(repo, state.repo_mode))))
    for person in state.people:
        name = person["username"]
        steps.append(Step(f"remove user {name} and their home", lambda u=name: unix_user(u) is None,
                          lambda u=name: sh("userdel", "--remove", u)))
    steps += [Step(f"remove group {g}", lambda g=g: not group_exists(g), lambda g=g: sh("groupdel", g))
              for g in GROUPS.values()]
    steps.append(Step(f"remove {hub.root}", lambda: not hub.root.exists(),
                      lambda: shutil.rmtree(hub.root)))
    return steps
