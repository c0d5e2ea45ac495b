"""A real JupyterHub on loopback for the tests: real Unix users made by `course hub up`,
configurable-http-proxy from npm, the course's hub config, and a Debian Chromium driven by
Playwright. Everything is started here and removed again (`course hub down`)."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course.layout import Layout
from course.release.hub import HubState, server_environment

REPO = Layout.default().root
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "course-hub-test-" + secrets.token_hex(4)
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", REPO / "build" / "test-artifacts")) / "hub"
INSTRUCTOR, ALICE, BOB = "odl-teach", "odl-alice", "odl-bob"
UNIT = "01-activations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def course(*args, check=True, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`course VERB ...` as root, the way the instructor's admin runs it."""
    out = subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                         timeout=timeout, cwd=REPO)
    if check and out.returncode != 0:
        raise AssertionError(f"course {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


@dataclass
class RunningHub:
    root: Path
    port: int
    token: str                              # the course-admin service's API token
    process: subprocess.Popen
    state: dict
    log: Path
    tokens: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET", body=None, token: str | None = None):
        req = urllib.request.Request(f"{self.url}/hub/api{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {token or self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None

    def token_for(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.api(f"/users/{user}/tokens", "POST", {"note": "tests"})["token"]
        return self.tokens[user]

    def env_of(self, user: str) -> dict:
        """The environment the hub gives this user's server (course/release/hub.py's, as
        deploy/jupyterhub/jupyterhub_config.py applies it), and what JupyterHub adds."""
        role = next(p["role"] for p in self.state["people"] if p["username"] == user)
        return {**server_environment(HubState(**self.state), role),
                "HOME": str(Path(f"~{user}").expanduser()), "USER": user, "LOGNAME": user,
                "LANG": "C.UTF-8", "JUPYTERHUB_API_URL": f"{self.url}/hub/api",
                "JUPYTERHUB_USER": user, "JUPYTERHUB_API_TOKEN": self.token_for(user)}

    def _as(self, user: str, argv: tuple, extra) -> tuple[list, dict]:
        env = {**self.env_of(user), **(extra or {})}
        return ["runuser", "-u", user, "--", "env", "-i",
                *[f"{k}={v}" for k, v in env.items()], *argv], env

    def as_user(self, user: str, *argv: str, cwd: Path | None = None, extra=None,
                check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        """Run a command as ``user``, with the environment of their server."""
        cmd, env = self._as(user, argv, extra)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             cwd=str(cwd or env["HOME"]))
        if check and out.returncode != 0:
            raise AssertionError(f"{user}: {' '.join(argv)} failed ({out.returncode}):\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def start_as_user(self, user: str, *argv: str, log: Path, extra=None) -> subprocess.Popen:
        """Start a long-running command as ``user`` (a Dask scheduler, a worker)."""
        cmd, env = self._as(user, argv, extra)
        return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                cwd=env["HOME"], start_new_session=True)


def prerequisites() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("the hub tests make Unix users: run them as root")
    if not (os.environ.get("COURSE_HUB_PROXY") or shutil.which("configurable-http-proxy")):
        problems.append("configurable-http-proxy is not installed (npm install -g "
                        "configurable-http-proxy; ./run.sh does it)")
    if not Path(CHROMIUM).exists():
        problems.append("Debian's chromium is not installed (apt-get install chromium; "
                        "./run.sh does it)")
    python = Path(sys.executable).resolve()
    if any(not os.access(p, os.X_OK) or not (p.stat().st_mode & 0o001)
           for p in [python, *python.parents] if p != Path("/")):
        problems.append(f"{sys.executable} is not usable by other users: the hub's users run "
                        f"it (./run.sh installs into /opt/open-dl-course as root)")
    if problems:
        pytest.fail("cannot start the hub:\n- " + "\n- ".join(problems), pytrace=False)


def start_hub(root: Path, roster: Path, *, exchange: str = "filesystem") -> RunningHub:
    port = free_port()
    up = ["hub", "up", str(roster), "--root", str(root), "--units", UNIT, "--port", str(port),
          "--exchange", exchange]
    if exchange == "ngshare":
        up += ["--ngshare-python", os.environ.get("COURSE_NGSHARE_PYTHON",
                                                  "/opt/open-dl-course/ngshare/bin/python")]
    course(*up)
    token = secrets.token_hex(16)
    log = ARTIFACTS / f"jupyterhub-{exchange}.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COURSE_HUB_STATE": str(root / "hub" / "hub.json"),
           "COURSE_HUB_AUTH": "shared-password", "COURSE_HUB_PASSWORD": PASSWORD,
           "COURSE_HUB_PORT": str(port), "COURSE_HUB_HUB_PORT": str(free_port()),
           "COURSE_HUB_PROXY_API_PORT": str(free_port()),
           "COURSE_HUB_NGSHARE_PORT": str(free_port()), "COURSE_HUB_ADMIN_TOKEN": token}
    env.pop("PYTHONPATH", None)
    fh = log.open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)],
                            cwd=root / "hub", env=env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)
    hub = RunningHub(root, port, token, proc, json.loads((root / "hub" / "hub.json").read_text()), log)
    deadline = time.monotonic() + 90
    while True:
        try:
            hub.api("/")
            break
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the hub did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    return hub


def browser_settings(user: str) -> None:
    """The test users' JupyterLab preferences: every cell rendered (the tests read cells
    off the page), and no news pop-up over the page."""
    home = Path(f"~{user}").expanduser()
    base = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
    for rel, value in (("notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
                       ("apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false"})):
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    for path in [home / ".jupyter", *(home / ".jupyter").rglob("*")]:
        shutil.chown(path, user, user)


def stop_hub(hub: RunningHub) -> None:
    if hub.process.poll() is None:
        hub.process.terminate()      # the hub stops its proxy and the users' servers
        try:
            hub.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(hub.process.pid, 9)
            hub.process.wait()


def hub_root() -> Path:
    # Under /tmp but not pytest's own (0700) folder: every user must reach it.
    root = Path(tempfile.mkdtemp(prefix="odl-hub-", dir="/tmp"))
    os.chmod(root, 0o755)
    return root / "srv"


@pytest.fixture(scope="session")
def roster(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hub") / "roster.csv"
    path.write_text("username,role,name,email\n"
                    f"{INSTRUCTOR},instructor,Ada Teacher,ada@example.org\n"
                    f"{ALICE},student,Alice Student,alice@example.org\n"
                    f"{BOB},student,Bob Student,bob@example.org\n")
    return path


@contextlib.contextmanager
def class_on_a_hub(roster: Path, exchange: str = "filesystem"):
    """`course hub up`, a running hub; afterwards the hub stopped and `course hub down`."""
    prerequisites()
    root = hub_root()
    running = start_hub(root, roster, exchange=exchange)
    try:
        yield running
    finally:
        stop_hub(running)
        course("hub", "down", "--root", str(root), check=False)
        shutil.rmtree(root.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(roster):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    with class_on_a_hub(roster) as running:
        for user in (INSTRUCTOR, ALICE, BOB):
            browser_settings(user)
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield b
        finally:
            b.close()
