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

hash=$(cat requirements.txt requirements-common.txt constraints.txt | sha256sum | cut -c1-12)
VENV=${COURSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/open-dl-course/venv-py3-$hash}

if [ ! -f "$VENV/.complete" ]; then
  echo "== setting up $VENV (a few minutes, once per machine)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt -c constraints.txt
  touch "$VENV/.complete"
fi

# Grading runs student code in a bubblewrap sandbox (course/sandbox.py). Install it where
# we may (root with apt, e.g. CI and Colab); elsewhere `course check-sandbox` explains.
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing bubblewrap (the grading sandbox)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
    || echo "   could not install bubblewrap: grading will refuse to run student code unsandboxed"
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
      -p no:cacheprovider tests lessons "$@" ;;
  course)
    exec python -m course "$@" ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
