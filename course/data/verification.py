"""Checking that every registry entry is present and intact (``course data verify``)."""
from __future__ import annotations

from dataclasses import dataclass

from course.data import shapes as _shapes
from course.data.errors import DataError, IntegrityError
from course.data.files import locate
from course.data.registry import Entry, Registry, load_registry


@dataclass
class Row:
    entry: str
    file: str
    status: str  # "ok", "MISSING", "DAMAGED", "absent (optional)"
    where: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("MISSING", "DAMAGED", "FAILED")


def _check_generated(entry: Entry) -> Row:
    ref = entry.reference
    try:
        if entry.name == "shapes":
            got = _shapes.fingerprint(_shapes.generate(int(ref["n"]), size=int(ref["size"]), seed=int(ref["seed"])))
        elif entry.name == "mnist1d":
            from course.data.images import generate_mnist1d, mnist1d_fingerprint

            got = mnist1d_fingerprint(generate_mnist1d())
        else:
            return Row(entry.name, "(generated)", "FAILED", "", "no check is defined for this generator")
    except ImportError as e:
        return Row(entry.name, "(generated)", "MISSING", "", f"{e}; pip install {ref.get('pip', e.name)}")
    if got != ref.get("sha256"):
        return Row(entry.name, "(generated)", "DAMAGED", "generated",
                   f"fingerprint {got[:12]}… differs from the registry's {str(ref.get('sha256'))[:12]}…")
    return Row(entry.name, "(generated)", "ok", "generated", "fingerprint matches")


def verify_entry(entry: Entry, download: bool = False, on_file=None) -> list[Row]:
    """One row per file; a variant that is absent is fine when another variant is complete."""
    if entry.kind == "generated":
        row = _check_generated(entry)
        if on_file:
            on_file()
        return [row]
    per_variant: list[list[Row]] = []
    for v in entry.variants:
        rows = []
        for spec in v.files:
            try:
                loc = locate(spec, download=download)
                rows.append(Row(entry.name, spec.path, "ok", loc.where, str(loc.path)))
            except IntegrityError as e:
                rows.append(Row(entry.name, spec.path, "DAMAGED", "", str(e).splitlines()[0]))
            except DataError as e:
                rows.append(Row(entry.name, spec.path, "MISSING", "", str(e).splitlines()[0]))
            if on_file:
                on_file()
        per_variant.append(rows)
    complete = [all(r.status == "ok" for r in rows) for rows in per_variant]
    if any(complete):
        for rows, ok in zip(per_variant, complete):
            if not ok:
                for r in rows:
                    if r.status == "MISSING":
                        r.status, r.detail = "absent (optional)", "another form of this data set is complete"
    return [r for rows in per_variant for r in rows]


def verify(names: list[str] | None = None, *, registry: Registry | None = None,
           download: bool = False, progress: bool = True) -> list[Row]:
    """Verify the named entries (default: all) and return one row per file."""
    reg = registry or load_registry()
    entries = [reg.get(n) for n in names] if names else list(reg)
    total = sum(1 if e.kind == "generated" else len(e.files) for e in entries)
    from tqdm import tqdm

    rows: list[Row] = []
    with tqdm(total=total, desc="verifying", unit="file", disable=not progress, leave=False) as bar:
        for e in entries:
            bar.set_postfix_str(e.name)
            rows += verify_entry(e, download=download, on_file=lambda: bar.update(1))
    return rows


def format_table(rows: list[Row]) -> str:
    headers = ("entry", "file", "status", "where")
    data = [(r.entry, r.file, r.status, r.where or "-") for r in rows]
    widths = [max(len(h), *(len(d[i]) for d in data)) if data else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(d, widths)) for d in data]
    problems = [r for r in rows if r.failed]
    if problems:
        out.append("")
        out += [f"{r.status}: {r.entry} {r.file}: {r.detail}" for r in problems]
    out.append("")
    ok = sum(not r.failed for r in rows)
    out.append(f"{ok} ok, {len(problems)} failed" if problems else f"all {len(rows)} files ok")
    return "\n".join(out)
