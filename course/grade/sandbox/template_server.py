"""A template kernel: runs inside a template sandbox and forks one sandboxed kernel per request.

The host side is course/grade/sandbox/forkserver.py. This process runs as root inside a
bubblewrap sandbox that gives it the grading view of the system (the same read-only
allow-list as every kernel, no network) and one writable folder, its own scratch folder.
It imports the framework once and never runs student code. For each kernel:

* it forks ``C``, which waits until the grader has put it in the kernel's cgroup, then
  unshares every namespace (mount, network, IPC, UTS, PID, cgroup), mounts a fresh
  size-limited ``/tmp`` over the template's (which hides the template's scratch folder
  and every other kernel's), brings back only its own private folder, binds that
  sandbox's ``/etc/passwd``, a fresh ``/dev/pts`` and loopback, sets the rlimits;
* ``C`` forks ``R``, PID 1 of the new PID namespace: it mounts a fresh ``/proc``, drops
  to the sandbox's own uid (no capabilities, no bounding set, ``no_new_privs``) and reaps
  orphans, like bubblewrap's init;
* ``R`` forks ``K``, the kernel: ipykernel started on the sandbox's connection file, with
  the framework already in ``sys.modules`` and nothing of any submission in memory (the
  template never receives one: only paths, a uid, limits and a stderr pipe).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG = 24, 38, 36, 1
EXIT_FILE = ".exit-code"    # in the exchange folder: the kernel's exit status, for the grader
STAGE = "/dev/shm"          # an empty folder outside /tmp, to carry the private folder over

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(src, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(src and src.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def _loopback_up() -> None:
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _set_limits(req: dict) -> None:
    for name, value in req["rlimits"].items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _enter_namespaces(req: dict) -> None:
    """In C: every namespace new; the filesystem view of this sandbox alone."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
                         | CLONE_NEWPID | CLONE_NEWCGROUP), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    private = req["private"]
    _mount(private, STAGE, None, MS_BIND)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={req['tmp_bytes']},mode=1777")
    for folder in req["dirs"]:
        os.makedirs(folder, mode=0o755, exist_ok=True)
        os.chmod(folder, 0o755)
    os.makedirs(private, mode=0o755, exist_ok=True)
    _mount(STAGE, private, None, MS_MOVE)
    for name in ("passwd", "group"):
        target = f"/etc/{name}"
        _mount(os.path.join(private, name), target, None, MS_BIND)
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    socket.sethostname("grading")
    _loopback_up()
    _set_limits(req)


def _drop_privileges(uid: int) -> None:
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        try:
            _prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
                  if ":\t" in line)
    if os.geteuid() == 0 or any(int(status[k], 16) for k in ("CapEff", "CapPrm", "CapBnd")):
        raise OSError("privileges were not dropped")


def _run_kernel(req: dict) -> None:
    """In K: as ``python -m ipykernel_launcher ARGS`` would, in this process."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the one handler the template set
    os.setsid()
    np = sys.modules.get("numpy.random")
    if np is not None:      # a fresh process draws a fresh global seed
        np.seed()
    sys.argv = [sys.argv[0], *req["argv"]]
    sys.path[:] = req["sys_path"]
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


def _reaper(req: dict) -> None:
    """In R (PID 1): a fresh /proc, the sandbox's uid, then the kernel; reap until it ends."""
    _check(_libc.umount2(b"/proc", MNT_DETACH), "umount /proc")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _drop_privileges(req["uid"])
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    os.umask(0o022)
    kernel = os.fork()
    if kernel == 0:
        try:
            _run_kernel(req)
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException:  # noqa: BLE001 - its traceback goes to the grader's stderr buffer
            import traceback
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    code = 1
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code    # as bubblewrap reports a signal
            try:
                with open(os.path.join(req["exchange"], EXIT_FILE), "w") as fh:
                    fh.write(str(code))
            except OSError:
                pass
            break
    os._exit(code)


def _child(req: dict, go: int, report: int) -> None:
    """In C: wait to be put in the cgroup, enter the sandbox, start R and report it."""
    try:
        if os.read(go, 1) != b"g":
            os._exit(1)
        os.close(go)
        _enter_namespaces(req)
        r = os.fork()
        if r == 0:
            os.close(report)
            try:
                _reaper(req)
            except BaseException as exc:  # noqa: BLE001
                print(f"grading sandbox: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
        os.write(report, f"ok {r}".encode())
    except BaseException as exc:  # noqa: BLE001 - the grader falls back to a cold kernel
        os.write(report, f"error {exc}".encode()[:4000])
    os._exit(0)


def _reap(*_):
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _spawn(sock: socket.socket, req: dict, fds: list) -> None:
    go_r, go_w = os.pipe()
    rep_r, rep_w = os.pipe()
    c = os.fork()
    if c == 0:
        try:
            sock.close()
            os.close(go_w)
            os.close(rep_r)
            out = fds[0]
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            for fd in (devnull, out):
                os.close(fd)
            # No descriptor of the template reaches a kernel (a folder's would lead out of
            # its mount namespace): the template holds none but these, close any other.
            for fd in map(int, os.listdir("/proc/self/fd")):
                if fd > 2 and fd not in (go_r, rep_w):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            _child(req, go_r, rep_w)
        finally:
            os._exit(1)
    for fd in (go_r, rep_w, *fds):
        os.close(fd)
    try:
        sock.send(json.dumps({"pid": c}).encode())
        answer = json.loads(sock.recv(65536) or b"{}")
        os.write(go_w, b"g" if answer.get("go") else b"n")
        os.close(go_w)
        text = b""
        while chunk := os.read(rep_r, 4096):
            text += chunk
        os.close(rep_r)
        status, _, rest = text.decode(errors="replace").partition(" ")
        if status == "ok":
            sock.send(json.dumps({"ok": True, "pid": int(rest)}).encode())
        else:
            sock.send(json.dumps({"ok": False, "error": rest or "the kernel's sandbox did not start"}).encode())
    except OSError:
        pass


def main() -> None:
    fd, framework = int(sys.argv[1]), sys.argv[2]
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)      # a kernel's R, once C has gone, is reaped here
    signal.signal(signal.SIGCHLD, _reap)
    from course.inkernel import preload
    preload.load(framework)
    import ipykernel.kernelapp  # noqa: F401 - what every kernel imports first
    # As ipykernel_launcher leaves it: without the working folder (IPython adds '' back).
    sys_path = [p for p in sys.path if p not in ("", os.getcwd())]
    sock = socket.socket(fileno=fd)
    threads = len(os.listdir("/proc/self/task"))
    sock.send(json.dumps({"ready": True, "threads": threads}).encode())
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
        except InterruptedError:
            continue
        if not msg:
            break
        req = json.loads(msg)
        req.setdefault("sys_path", sys_path)
        _spawn(sock, req, fds)
    os._exit(0)


if __name__ == "__main__":
    main()
