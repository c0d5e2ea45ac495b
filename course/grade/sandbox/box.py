"""Run student code in a sandbox: bubblewrap namespaces, an unprivileged user, limits.

What a sandboxed process sees and may do:

* a **read-only** view of the system made of an allow-list: ``/usr`` (and its ``/bin``
  ``/lib`` links), ``/etc``, ``/sys``, the Python installation, the virtual environment,
  the ``course`` package alone (not the repository around it: no solutions, unit sources,
  fixtures, gradebook or other submissions), the data registry file (so the data layer
  finds the same data sets as the grader) and the course's data mirrors;
* a private, size-limited ``/tmp`` (also its home and working folder) and one private
  exchange folder for the kernel's IPC sockets; nothing it writes reaches the disk;
* **no network** (a new network namespace: loopback only, not the host's), its own PID,
  IPC and UTS namespaces;
* an **unprivileged** user: as root, bwrap builds the sandbox and ``setpriv`` then drops
  to a fresh uid with no capabilities and ``no_new_privs``; as another user, bwrap maps
  it to uid 65534 in a user namespace;
* limits: memory and processes by a cgroup (v2, else v1) when one can be made, else by
  ``RLIMIT_AS``/``RLIMIT_DATA`` and ``RLIMIT_NPROC``; CPU seconds, file size, open files,
  no core dumps by rlimits; wall time per cell and output size are enforced by the
  grader (course/grade/autograde.py).

``RLIMIT_AS`` alone is a poor memory limit: TensorFlow reserves ~1.6 GiB of address
space after import and fails on tiny tensors below ~2-3 GiB, so the address-space limit
is never set below 3 GiB and, with a cgroup, is only a generous backstop.
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import uuid
from collections import deque
from pathlib import Path

import course
from course.grade.sandbox.cgroups import ResourceGroup, memory_backend
from course.grade.sandbox.limits import MiB, Limits

COURSE_PACKAGE = Path(course.__file__).resolve().parent

INSIDE_TMP = "/tmp"

INSIDE_HOME = "/tmp/home"

INSIDE_WORK = "/tmp/work"
CGROUPS_FILE = ".cgroups"   # in the private folder: the sandbox's cgroups, for a cleaner


class SandboxError(RuntimeError):
    """The sandbox cannot start; the message says why and what to do."""


def find_bwrap() -> str | None:
    return os.environ.get("COURSE_BWRAP") or shutil.which("bwrap")


_uid_counter = itertools.count()


def _fresh_uid() -> int:
    # Unique per live sandbox on this host (pids are unique): RLIMIT_NPROC, when it is the
    # process limit, counts per uid, so two sandboxes must never share one.
    return 2_000_000 + (os.getpid() % 400_000) * 8 + next(_uid_counter) % 8


def _python_roots() -> list[Path]:
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
             Path(sys.executable).resolve().parent.parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            roots.add(Path(p).resolve())
    # Keep only the outermost folders, and none already inside /usr.
    keep = []
    for r in sorted(roots, key=lambda p: len(p.parts)):
        if r == Path("/") or any(r.is_relative_to(k) for k in keep) or r.is_relative_to("/usr"):
            continue
        keep.append(r)
    return keep


def _data_dirs() -> list[Path]:
    dirs = []
    for p in os.environ.get("COURSE_DATA_MIRROR", "").split(os.pathsep):
        if p.strip() and Path(p).expanduser().is_dir():
            dirs.append(Path(p).expanduser().resolve())
    cache = os.environ.get("COURSE_DATA_CACHE") or str(Path.home() / ".cache" / "dl-course" / "data")
    if Path(cache).is_dir():
        dirs.append(Path(cache).resolve())
    return dirs


def _registry_file() -> Path | None:
    """The data registry the grader reads. The kernel must read the same one: in a
    repository it lives in datasets/, outside the folders a sandbox sees otherwise."""
    from course.data.registry import default_registry_path
    path = default_registry_path().expanduser().resolve()
    return path if path.is_file() else None


class Sandbox:
    """One sandbox (one notebook's kernel): its folders, user, cgroup and command line."""

    def __init__(self, limits: Limits, private_dir: Path, *, extra_read_only=(),
                 bwrap: str | None = None, cgroup: bool = True):
        self.limits = limits
        self.private = Path(private_dir)
        self.bwrap = bwrap or find_bwrap()
        if not self.bwrap:
            raise SandboxError("bubblewrap (bwrap) is not installed: run `apt-get install -y "
                               "bubblewrap`, or grade with --no-sandbox (student code then runs "
                               "unconfined, with your permissions).")
        self.root = os.geteuid() == 0
        self.uid = _fresh_uid() if self.root else 65534
        # The sandbox user must traverse to the bound folders but not list them.
        self.private.mkdir(parents=True, exist_ok=True)
        os.chmod(self.private, 0o711)
        self.exchange = self.private / "x"
        self.exchange.mkdir(mode=0o700, exist_ok=True)
        if self.root:
            os.chown(self.exchange, self.uid, self.uid)
        self.read_only = [*_python_roots(), COURSE_PACKAGE, *_data_dirs(),
                          *[Path(p).resolve() for p in extra_read_only]]
        self.registry = _registry_file()
        if self.registry and not any(self.registry.is_relative_to(p) for p in self.read_only):
            self.read_only.append(self.registry)      # that file alone, not the folder
        self.group = ResourceGroup.create(limits, f"course-sandbox-{uuid.uuid4().hex[:12]}") \
            if self.root and cgroup else None
        if self.group is not None:  # what a cleaner removes if this run is killed (scratch.py)
            (self.private / CGROUPS_FILE).write_text("".join(
                f"{self.group.version} {d}\n" for d in sorted(set(map(str, self.group.dirs.values())))))
        self._stderr = deque(maxlen=200)

    # -- what runs inside
    def env(self, extra: dict | None = None) -> dict:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": INSIDE_HOME, "TMPDIR": INSIDE_TMP, "USER": "student", "LOGNAME": "student",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONFAULTHANDLER": "1",
            "PYTHONPATH": str(COURSE_PACKAGE.parent),
            "MPLCONFIGDIR": f"{INSIDE_TMP}/matplotlib", "IPYTHONDIR": f"{INSIDE_TMP}/ipython",
            "JUPYTER_RUNTIME_DIR": f"{INSIDE_TMP}/jupyter", "KERAS_HOME": f"{INSIDE_TMP}/keras",
            "COURSE_DATA_OFFLINE": "1",
            "COURSE_DATA_MIRROR": os.pathsep.join(str(p) for p in _data_dirs()),
        }
        if self.registry:
            env["COURSE_DATA_REGISTRY"] = str(self.registry)
        env.update(extra or {})
        return env

    def identity_files(self) -> list[Path]:
        """/etc/passwd and /etc/group naming the sandbox's user (as root: a fresh uid)."""
        passwd, group = self.private / "passwd", self.private / "group"
        passwd.write_text(f"root:x:0:0::/root:/usr/sbin/nologin\n"
                          f"student:x:{self.uid}:{self.uid}::{INSIDE_HOME}:/usr/sbin/nologin\n")
        group.write_text(f"root:x:0:\nstudent:x:{self.uid}:\n")
        return [passwd, group]

    def _bwrap_args(self, env: dict, *, template: bool = False) -> list[str]:
        """bubblewrap's arguments. A ``template`` (course/grade/sandbox/forkserver.py) keeps
        root and the host's PID namespace, and may write its private folder: its forks
        build each kernel's own namespaces, /tmp, /proc and user themselves."""
        a = [self.bwrap, "--die-with-parent", "--new-session",
             "--unshare-ipc", "--unshare-net", "--unshare-uts", "--hostname", "grading"]
        if not template:
            a += ["--unshare-pid", "--unshare-cgroup-try"]
        if not self.root:
            a += ["--unshare-user", "--uid", str(self.uid), "--gid", str(self.uid)]
        a += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib32", "lib64", "sbin"):
            p = Path("/") / name
            if p.is_symlink():
                a += ["--symlink", os.readlink(p), str(p)]
            elif p.is_dir():
                a += ["--ro-bind", str(p), str(p)]
        a += ["--ro-bind", "/etc", "/etc", "--ro-bind", "/sys", "/sys",
              "--proc", "/proc", "--dev", "/dev",
              "--size", str(self.limits.tmp_mb * MiB), "--perms", "1777", "--tmpfs", INSIDE_TMP,
              "--perms", "0755", "--dir", INSIDE_HOME, "--perms", "0755", "--dir", INSIDE_WORK]
        if self.root and not template:
            passwd, group = self.identity_files()
            a += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group"]
        writable = self.private if template else self.exchange
        made = set()
        for src in [*self.read_only, writable]:
            # bwrap makes missing parents 0700 as root: make them traversable first.
            for parent in reversed(src.parents):
                if parent == Path("/") or str(parent) in made or parent.is_relative_to("/usr") \
                        or parent in (Path("/etc"), Path("/sys"), Path("/tmp")):
                    continue
                made.add(str(parent))
                a += ["--perms", "0755", "--dir", str(parent)]
        for src in self.read_only:
            if src.exists():
                a += ["--ro-bind", str(src), str(src)]
        a += ["--bind", str(writable), str(writable)]
        a += ["--chdir", INSIDE_WORK, "--clearenv"]
        for k, v in env.items():
            a += ["--setenv", k, v]
        return a

    def rlimits(self) -> dict:
        """{resource name: (soft, hard)} for the sandboxed process."""
        lim = self.limits
        as_bytes = max(3 * 1024, lim.memory_mb) * MiB if self.group is None \
            else max(3 * 1024, 4 * lim.memory_mb) * MiB  # with a cgroup: a generous backstop only
        # CPU: SIGXCPU at the soft limit (a readable reason), SIGKILL 5 s later.
        out = {"RLIMIT_AS": (as_bytes, as_bytes),
               "RLIMIT_CPU": (lim.cpu_seconds, lim.cpu_seconds + 5),
               "RLIMIT_FSIZE": (lim.file_mb * MiB,) * 2, "RLIMIT_NOFILE": (lim.open_files,) * 2,
               "RLIMIT_CORE": (0, 0)}
        if self.group is None:
            out["RLIMIT_DATA"] = (as_bytes, as_bytes)
            # Without a pids cgroup, RLIMIT_NPROC on a uid no one else uses. As a normal
            # user the uid is ours, so leave room for our own processes.
            nproc = lim.processes if self.root else lim.processes + _count_own_tasks()
            out["RLIMIT_NPROC"] = (nproc, nproc)
        return out

    def command(self, argv: list[str], env: dict | None = None) -> list[str]:
        """The full command line: join the cgroup, set rlimits, build the sandbox, drop root."""
        rl = [shutil.which("prlimit") or "prlimit"]
        for name, (soft, hard) in self.rlimits().items():
            rl.append(f"--{name[len('RLIMIT_'):].lower()}={soft}:{hard}")
        rl.append("--")
        inner = list(argv)
        if self.root:
            inner = [shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}",
                     f"--regid={self.uid}", "--clear-groups", "--bounding-set=-all",
                     "--inh-caps=-all", "--no-new-privs", "--", *inner]
        cmd = rl + self._bwrap_args(self.env(env)) + ["--", *inner]
        return self._in_group(cmd)

    def template_command(self, argv: list[str], env: dict | None = None) -> list[str]:
        """A template's command line (course/grade/sandbox/forkserver.py): the same view of
        the system, as root, no limits of its own; it runs no student code."""
        return self._bwrap_args(self.env(env), template=True) + ["--", *argv]

    def _in_group(self, cmd: list[str]) -> list[str]:
        if self.group is not None:
            files = self.group.procs_files()
            join = ('n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; '
                    'shift; n=$((n-1)); done; exec "$@"')
            cmd = ["/bin/sh", "-c", join, "sh", str(len(files)), *files, *cmd]
        return cmd

    # -- stderr of the sandboxed process, kept short (crash messages)
    def stderr_pipe(self) -> int:
        """A write end for the process's stdout/stderr; a thread keeps the last lines."""
        r, w = os.pipe()

        def drain():
            with os.fdopen(r, "rb", buffering=0) as fh:
                for line in iter(fh.readline, b""):
                    self._stderr.append(line[:2000].decode("utf-8", "replace"))

        threading.Thread(target=drain, daemon=True).start()
        return w

    def stderr_tail(self) -> str:
        return "".join(self._stderr)

    def oom_killed(self) -> bool:
        return bool(self.group and self.group.oom_killed())

    def peak_mb(self) -> float | None:
        return self.group.peak_mb() if self.group else None

    def close(self) -> None:
        if self.group is not None:
            self.group.remove()


def _count_own_tasks() -> int:
    uid = os.getuid()
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.stat().st_uid == uid:
                    n += len(list((d / "task").iterdir()))
            except OSError:
                pass
    return n


def run(argv: list[str], limits: Limits | None = None, *, timeout: float = 60,
        private_dir: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a command in a fresh sandbox (used by check_sandbox and the tests)."""
    import tempfile
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="course-sandbox-") as tmp:
        box = Sandbox(limits, Path(private_dir or tmp))
        try:
            return subprocess.run(box.command(argv), capture_output=True, timeout=timeout,
                                  input=input)
        finally:
            box.close()


def check_sandbox(limits: Limits | None = None) -> str:
    """Start a sandboxed Python that imports the course; raise SandboxError if it cannot.

    Returns one line describing the sandbox (for the grading log).
    """
    if sys.platform != "linux":
        raise SandboxError("the grading sandbox needs Linux (bubblewrap); grade with "
                           "--no-sandbox to run student code unconfined.")
    probe = ("import os, course, numpy; print('ok', os.getuid())")
    try:
        res = run([sys.executable, "-c", probe], limits, timeout=60)
    except SandboxError:
        raise
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"the grading sandbox did not start: {exc}") from None
    out = res.stdout.decode(errors="replace").strip()
    if res.returncode != 0 or not out.startswith("ok"):
        detail = (res.stderr.decode(errors="replace").strip() or out)[-800:]
        hint = ""
        if "setting up uid map" in detail or "Operation not permitted" in detail \
                or "No permissions to create" in detail:
            hint = ("\nUser namespaces look disabled: as root, `sysctl -w "
                    "kernel.unprivileged_userns_clone=1` (Debian) or "
                    "`sysctl -w user.max_user_namespaces=10000`.")
        raise SandboxError(f"the grading sandbox did not start (exit {res.returncode}):\n"
                           f"{detail}{hint}\nFix it, or grade with --no-sandbox to run student "
                           f"code unconfined (only for submissions you trust).")
    backend = "cgroup" if os.geteuid() == 0 and memory_backend().startswith("cgroup") else "rlimit"
    return f"sandbox: bubblewrap, uid {out.split()[1]}, no network, memory by {backend}"
