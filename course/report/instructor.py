"""The instructor's view of a graded batch.

:func:`write_report` writes ``report-<unit>.{md,html,png}`` in the workspace: status
counts, the score distribution of every question (the PNG), the slowest submissions and
a table of every submission that was not simply graded, with its reason.
"""
from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from course.frameworks import FRAMEWORKS
from course.grade.records import STATUSES
from course.layout import Unit


def parts_of(rows) -> list[str]:
    names: list[str] = []
    for r in rows:
        names += [k for k in r.parts if k not in names]
    return names


def max_points(unit: Unit) -> dict:
    from course.author import fixtures
    out: dict = {}
    for fw in FRAMEWORKS:
        try:
            out.update(fixtures.max_points(unit, fw))
        except Exception:  # noqa: BLE001 - a unit without one framework
            continue
    return out


def plot_distributions(unit: Unit, rows, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    parts = parts_of(rows)
    maxima = max_points(unit)
    n = max(1, len(parts))
    cols = min(4, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), squeeze=False)
    for ax, part in zip(axes.ravel(), parts):
        scores = [r.parts.get(part, 0.0) for r in rows]
        top = maxima.get(part, max(scores, default=1.0)) or 1.0
        values = sorted(set([0.0, top] + scores))
        counts = [scores.count(v) for v in values]
        ax.bar([f"{v:g}" for v in values], counts, color="#4C72B0")
        ax.set_title(part, fontsize=9)
        ax.set_xlabel(f"points (of {top:g})", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.ravel()[len(parts):]:
        ax.axis("off")
    fig.suptitle(f"{unit.slug}: score per question ({len(rows)} students)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary(unit: Unit, rows, records: dict, *, slowest: int = 10) -> dict:
    """The report's content as data (also what the tests check)."""
    counts = Counter(r.status for r in rows)
    parts = parts_of(rows)
    maxima = max_points(unit)
    questions = []
    for part in parts:
        scores = [r.parts.get(part, 0.0) for r in rows]
        top = maxima.get(part, 0.0)
        questions.append({"question": part, "points": top,
                          "mean": sum(scores) / len(scores) if scores else 0.0,
                          "full_marks": sum(1 for s in scores if top and s >= top)})
    timed = sorted(((records.get(r.student, {}).get("seconds") or 0.0, r.student, r.status)
                    for r in rows), reverse=True)[:slowest]
    failures = [(r.student, r.status, r.reason) for r in sorted(rows, key=lambda r: r.student)
                if r.status != "graded"]
    return {"students": len(rows), "status_counts": {s: counts.get(s, 0) for s in STATUSES},
            "questions": questions, "slowest": timed, "failures": failures,
            "mean_score": sum(r.score for r in rows) / len(rows) if rows else 0.0,
            "max_score": max((r.max_score for r in rows), default=0.0)}


def _md_table(header, body) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
              for row in body]
    return "\n".join(lines)


def write_report(unit: Unit, workspace: Path, rows, records: dict) -> dict:
    """Markdown, HTML and PNG report of the unit's grading; returns their paths."""
    workspace = Path(workspace)
    data = summary(unit, rows, records)
    png = plot_distributions(unit, rows, workspace / f"report-{unit.slug}.png")
    md = [f"# Grading report: {unit.slug}", "",
          f"{data['students']} students, mean score {data['mean_score']:.2f} / {data['max_score']:g}.",
          "", "## Status", "",
          _md_table(["status", "students"], [[s, n] for s, n in data["status_counts"].items()]),
          "", "## Questions", "", f"![score per question]({png.name})", "",
          _md_table(["question", "points", "mean", "full marks"],
                    [[q["question"], f"{q['points']:g}", f"{q['mean']:.2f}", q["full_marks"]]
                     for q in data["questions"]]),
          "", "## Slowest submissions", "",
          _md_table(["student", "seconds", "status"],
                    [[s, f"{t:.1f}", st] for t, s, st in data["slowest"]]),
          "", "## Not simply graded", ""]
    md.append(_md_table(["student", "status", "reason"], data["failures"])
              if data["failures"] else "Every submission was graded.")
    md_path = workspace / f"report-{unit.slug}.md"
    md_path.write_text("\n".join(md) + "\n")
    html_path = workspace / f"report-{unit.slug}.html"
    html_path.write_text(_html(unit, data, png.name))
    return {"markdown": md_path, "html": html_path, "png": png, "summary": data}


def _html(unit: Unit, data: dict, png: str) -> str:
    def table(header, body):
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    failures = table(["student", "status", "reason"], data["failures"]) if data["failures"] \
        else "<p>Every submission was graded.</p>"
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Grading report: {html.escape(unit.slug)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}}th{{background:#f3f3f3}}</style></head><body>
<h1>Grading report: {html.escape(unit.slug)}</h1>
<p>{data['students']} students, mean score {data['mean_score']:.2f} / {data['max_score']:g}.</p>
<h2>Status</h2>{table(["status", "students"], list(data["status_counts"].items()))}
<h2>Questions</h2><img src="{html.escape(png)}" alt="score per question">
{table(["question", "points", "mean", "full marks"],
       [[q["question"], f"{q['points']:g}", f"{q['mean']:.2f}", q["full_marks"]] for q in data["questions"]])}
<h2>Slowest submissions</h2>{table(["student", "seconds", "status"],
                                   [[s, f"{t:.1f}", st] for t, s, st in data["slowest"]])}
<h2>Not simply graded</h2>{failures}
</body></html>
"""


def format_summary(data: dict) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in data["status_counts"].items() if n)
    lines = [f"{data['students']} students: {counts or 'none'}"]
    for student, status, reason in data["failures"][:20]:
        lines.append(f"  {student:<24} {status:<17} {reason[:110]}")
    if len(data["failures"]) > 20:
        lines.append(f"  ... {len(data['failures']) - 20} more in the report")
    return "\n".join(lines)
