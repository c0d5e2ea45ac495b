"""``course data fetch|verify|list``.

``register(subparsers)`` plugs these into the main ``course`` command; until then
``python -m course.data.cli verify`` works on its own.
"""
from __future__ import annotations

import argparse
import os
import sys

from course.data.errors import DataError
from course.data.files import CACHE_ENV, MIRROR_ENV, cache_dir, locate, mirror_dirs
from course.data.registry import load_registry


def _apply_mirror(args) -> None:
    if getattr(args, "mirror", None):
        extra = os.pathsep.join(os.path.abspath(m) for m in args.mirror)
        old = os.environ.get(MIRROR_ENV)
        os.environ[MIRROR_ENV] = extra + (os.pathsep + old if old else "")


def _fetch(args) -> int:
    from course.data.files import resolve

    _apply_mirror(args)
    reg = load_registry()
    names = reg.names() if args.all else args.names
    if not names:
        print("Name data sets to fetch, or use --all. `course data list` shows the names.", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            entry = reg.get(name)
            if entry.kind == "generated":
                print(f"{entry.name}: generated on demand, nothing to fetch")
                continue
            v, got = resolve(entry, variant=args.variant, download=not args.no_download)
            for p, loc in got.items():
                print(f"{entry.name}: {p} -> {loc.path} ({loc.where})")
        except DataError as e:
            failed += 1
            print(f"\n{e}\n", file=sys.stderr)
    return 1 if failed else 0


def _verify(args) -> int:
    from course.data.verification import format_table, verify

    _apply_mirror(args)
    try:
        rows = verify(args.names or None, download=False, progress=not args.no_progress)
    except DataError as e:
        print(e, file=sys.stderr)
        return 1
    print(format_table(rows))
    return 1 if any(r.failed for r in rows) else 0


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _list(args) -> int:
    _apply_mirror(args)
    reg = load_registry()
    rows = []
    for e in reg:
        if e.kind == "generated":
            where = "generated"
        else:
            where = "missing"
            for v in e.variants:  # report the first form that is complete
                try:
                    places = sorted({locate(f, download=False).where for f in v.files})
                except DataError:
                    continue
                where = ",".join(places) + (f" ({v.name})" if len(e.variants) > 1 else "")
                break
        rows.append((e.name, e.section[:-1], _human(e.size_bytes()) if e.kind == "files" else "-", where, e.licence))
    headers = ("name", "kind", "size", "where", "licence")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"\nmirrors: {', '.join(map(str, mirror_dirs()))}\ncache:   {cache_dir()}  (set {CACHE_ENV} to change)")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command (fetch, verify, list) to an argparse subparsers object."""
    data = subparsers.add_parser("data", help="fetch, verify and list the course's data sets and models",
                                 description="Data sets and pretrained models: fetch, verify, list.")
    sub = data.add_subparsers(dest="data_command", metavar="{fetch,verify,list}")
    sub.required = True

    def mirror_opt(p):
        p.add_argument("--mirror", action="append", metavar="DIR",
                       help=f"a read-only data folder to search first (added to ${MIRROR_ENV}); repeatable")

    p = sub.add_parser("fetch", help="make data sets available locally (download into the cache if needed)")
    p.add_argument("names", nargs="*", help="data set or model names (see `course data list`)")
    p.add_argument("--all", action="store_true", help="every registry entry")
    p.add_argument("--variant", help="a specific form, e.g. `python` for CIFAR-10's official pickles")
    p.add_argument("--no-download", action="store_true", help="only look in mirrors, the cache and packages")
    mirror_opt(p)
    p.set_defaults(func=_fetch)

    p = sub.add_parser("verify", help="check every file against the registry's sha256 (exit 1 on any failure)")
    p.add_argument("names", nargs="*", help="entries to check (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    mirror_opt(p)
    p.set_defaults(func=_verify)

    p = sub.add_parser("list", help="list data sets and models, their size, licence and where they were found")
    mirror_opt(p)
    p.set_defaults(func=_list)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(["data", *sys.argv[1:]]) if sys.argv[1:2] != ["data"] else main())
