#!/usr/bin/env bash
# The two set-up commands of the course (see README):
#   ./run.sh demo    set up, build and check the course, autograde the demo class, print grades
#   ./run.sh test    set up and run the whole test suite (what CI runs)
# and, once set up:
#   ./run.sh course VERB ...   any `course` command, e.g. ./run.sh course build 01
#
# The virtual environment is cached per lock-file hash (COURSE_VENV overrides where), so
# later runs on the same machine skip the install; a fresh machine installs from nothing.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
cmd_name=${1:-help}

hash=$(cat requirements.txt requirements-common.txt constraints.txt | sha256sum | cut -c1-12)
# As root (a server, CI) the environment goes to /opt, built on the system's Python, so
# that every user of a JupyterHub on this machine can run it (deploy/jupyterhub).
PYTHON=python3
if [ "$(id -u)" = 0 ]; then
  BASE=/opt/open-dl-course
  [ -x /usr/bin/python3.11 ] && PYTHON=/usr/bin/python3.11
else
  BASE=${XDG_CACHE_HOME:-$HOME/.cache}/open-dl-course
fi
VENV=${COURSE_VENV:-$BASE/venv-py3-$hash}

if [ ! -f "$VENV/.complete" ]; then
  echo "== setting up $VENV (a few minutes, once per machine)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt -c constraints.txt
  # pins jupyter-core < 4.11.2 but works with nbgrader 0.9.6: without its dependencies
  "$VENV/bin/python" -m pip install -q --no-deps ngshare-exchange==0.5.3
  touch "$VENV/.complete"
fi

# Grading runs student code in a bubblewrap sandbox (course/grade/sandbox/box.py). Install it where
# we may (root with apt, e.g. CI and Colab); elsewhere `course check-sandbox` explains.
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing bubblewrap (the grading sandbox)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
    || echo "   could not install bubblewrap: grading will refuse to run student code unsandboxed"
fi

# A class on JupyterHub (deploy/jupyterhub, tests/hub): the proxy from npm, Debian's
# Chromium for the browser tests, and ngshare in an environment of its own (it needs
# SQLAlchemy < 2). Where we may install (root with apt and npm).
if [ "$(id -u)" = 0 ] && [ "$cmd_name" = test ]; then
  if ! command -v configurable-http-proxy >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    echo "== installing configurable-http-proxy (npm)"
    npm install -g --silent configurable-http-proxy@5.3.0 >/dev/null 2>&1 \
      || echo "   could not install configurable-http-proxy: the hub tests will say so"
  fi
  if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (the browser tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "   could not install chromium: the browser tests will say so"
  fi
  NGSHARE=$BASE/ngshare
  if [ ! -f "$NGSHARE/.complete" ]; then
    echo "== setting up ngshare's environment ($NGSHARE)"
    rm -rf "$NGSHARE"
    "$PYTHON" -m venv "$NGSHARE" && "$NGSHARE/bin/python" -m pip install -q \
      jupyterhub==6.1.1 'sqlalchemy<2' ngshare==0.6.0 && touch "$NGSHARE/.complete" \
      || echo "   could not set up ngshare: its hub test will say so"
  fi
  export COURSE_NGSHARE_PYTHON="$NGSHARE/bin/python"
fi

# The toolkit is used from this checkout (not installed), so one cached environment
# serves every clone; kernels started by the course inherit this path too.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$VENV/bin:$PATH"
# The offline data mirror beside the repository, unless one is configured already.
if [ -z "${COURSE_DATA_MIRROR:-}" ] && [ -d "$ROOT/../shared/datasets" ]; then
  export COURSE_DATA_MIRROR="$(cd "$ROOT/../shared/datasets" && pwd)"
fi

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    exec python -m course demo "$@" ;;
  test)
    python -m course data verify
    exec python -m pytest --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
      -p no:cacheprovider --durations=30 tests lessons "$@" ;;
  course)
    exec python -m course "$@" ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
