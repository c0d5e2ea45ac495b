"""JupyterHub for the course on one server (The Littlest JupyterHub's shape, by hand).

    sudo ./run.sh course hub up roster.csv          # users, groups, folders (once)
    sudo jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

What it decides, and why (deploy/jupyterhub/README.md says more):

* real Unix users, each server a local process under that user (LocalProcessSpawner):
  the kernel of one student cannot read another's files (homes are 0700);
* the proxy and the hub listen on 127.0.0.1 unless COURSE_HUB_IP says otherwise: put
  TLS in front of it (nginx, Caddy) for a class;
* who logs in: PAM (the users' Unix passwords) by default; COURSE_HUB_AUTH=shared-password
  for tests and workshops; OAuth or LTI 1.3 for an LMS, see the README;
* every user's server runs in the course's environment with the toolkit copy (no
  solutions) first on the import path, the data mirror read-only and downloads off, and
  nbgrader configured per role: students get the Assignments tab and Validate,
  instructors also the formgrader over the grading workspace.
"""
import json
import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821

STATE = json.loads(Path(os.environ.get("COURSE_HUB_STATE", "/srv/open-dl-course/hub/hub.json")).read_text())
ROOT = Path(STATE["root"])
HUB = ROOT / "hub"
PEOPLE = {p["username"]: p for p in STATE["people"]}
INSTRUCTORS = sorted(u for u, p in PEOPLE.items() if p["role"] == "instructor")
STUDENTS = sorted(u for u, p in PEOPLE.items() if p["role"] == "student")
BIN = Path(STATE["python"]).parent
# The users' environment is defined once, in the toolkit (the copy `course hub up` made).
sys.path.insert(0, str(ROOT / "lib"))
from course.release.hub import HubState, server_environment  # noqa: E402

# -- network: loopback unless told otherwise
c.JupyterHub.ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("COURSE_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("COURSE_HUB_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('COURSE_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [os.environ.get("COURSE_HUB_PROXY")
                                   or shutil.which("configurable-http-proxy") or "configurable-http-proxy"]
c.JupyterHub.db_url = f"sqlite:///{HUB / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(HUB / "jupyterhub.pid")

# -- who may log in
auth = os.environ.get("COURSE_HUB_AUTH", "pam")
if auth == "shared-password":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ["COURSE_HUB_PASSWORD"]
else:
    c.JupyterHub.authenticator_class = auth
c.Authenticator.allowed_users = set(PEOPLE)
c.JupyterHub.load_groups = {"course-instructors": {"users": INSTRUCTORS},
                            "course-students": {"users": STUDENTS}}

# -- every user's server
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# Not PYTHONPATH: the repository (solutions, hidden tests) must stay out of students' reach.
c.Spawner.env_keep = ["LANG", "LC_ALL"]


def role_environment(spawner):
    """The course's environment and the user's role's Jupyter config (a new dict per
    server: the configured one is shared by every spawner)."""
    role = PEOPLE[spawner.user.name]["role"]
    spawner.environment = {**spawner.environment, **server_environment(HubState(**STATE), role)}


c.Spawner.pre_spawn_hook = role_environment

# -- services: an API token for the course's own tools; ngshare when it is the exchange
c.JupyterHub.services = []
c.JupyterHub.load_roles = []
if os.environ.get("COURSE_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services.append({"name": "course-admin",
                                  "api_token": os.environ["COURSE_HUB_ADMIN_TOKEN"]})
    c.JupyterHub.load_roles.append({"name": "course-admin", "services": ["course-admin"],
                                    "scopes": ["admin:users", "tokens", "admin:servers",
                                               "read:users", "access:servers"]})
if STATE.get("exchange") == "ngshare":
    port = os.environ.get("COURSE_HUB_NGSHARE_PORT", "10101")
    c.JupyterHub.services.append({
        "name": "ngshare", "url": f"http://127.0.0.1:{port}", "oauth_no_confirm": True,
        "command": [STATE["ngshare_python"], "-m", "ngshare", "--admins", ",".join(INSTRUCTORS),
                    "--database", f"sqlite:///{HUB / 'ngshare.db'}",
                    "--storage", str(HUB / "ngshare-files") + "/"]})
