"""Side-by-side pages: shared prose full width, PyTorch and TensorFlow code in two columns.

Built from the unit source (for the cell order) and the generated notebooks (for the
code each framework really runs and, for lessons, the stored outputs).
"""
from __future__ import annotations

import html
from pathlib import Path

import nbformat
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from course.author import source as src
from course.frameworks import FRAMEWORKS
from course.layout import Unit

def _math(content: str, options: dict) -> str:
    # Keep TeX intact (markdown would eat "\\," and friends) for MathJax to typeset.
    tex = html.escape(content)
    return f"\\[{tex}\\]" if options.get("display_mode") else f"\\({tex}\\)"


_MD = (MarkdownIt("commonmark", {"html": True}).enable("table")
       .use(dollarmath_plugin, double_inline=True, renderer=_math))
_FMT = HtmlFormatter(nowrap=False, cssclass="hl")
_CSS = """
body{font:16px/1.55 system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
.prose{max-width:820px} .row{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin:.8em 0}
.shared{margin:.8em 0} .col h4{margin:.2em 0;font-size:.8em;color:#666;text-transform:uppercase}
.hl pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px;border-radius:4px;margin:0}
.out pre{font-size:12px;background:#fff;border-left:3px solid #ddd;padding:.3em .6em;margin:.3em 0;overflow-x:auto}
.out img{max-width:100%} .banner{background:#fff8c5;padding:.5em 1em;border-radius:4px}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.2em .5em}
""" + _FMT.get_style_defs(".hl")
_MATHJAX = '<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'


def _outputs_html(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(f"<pre>{html.escape(out.text)}</pre>")
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "image/png" in data:
                parts.append(f'<img alt="plot" src="data:image/png;base64,{data["image/png"].strip()}">')
            elif "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
                parts.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
        elif out.output_type == "error":
            parts.append(f"<pre>{html.escape(out.ename)}: {html.escape(out.evalue)}</pre>")
    return f'<div class="out">{"".join(parts)}</div>' if parts else ""


def _cell_html(cell) -> str:
    if cell is None:
        return ""
    if cell.cell_type == "markdown":
        return _MD.render(cell.source)
    return highlight(cell.source, PythonLexer(), _FMT) + _outputs_html(cell)


def _page(unit: Unit, kind: str, notebooks: dict) -> str:
    """Walk the source order; group runs of framework-only cells into two columns."""
    combined = src.read_source(unit.lesson_source if kind == "lesson" else unit.assignment_source)
    by_id = {fw: {c.get("id", "")[:4]: c for c in nb.cells} for fw, nb in notebooks.items()}
    body, run = [], {fw: [] for fw in FRAMEWORKS}

    def flush():
        if any(run.values()):
            cols = "".join(
                f'<div class="col"><h4>{src.FRAMEWORK_TITLES[fw]}</h4>'
                + "".join(_cell_html(c) for c in run[fw]) + "</div>" for fw in FRAMEWORKS)
            body.append(f'<div class="row">{cols}</div>')
            for fw in FRAMEWORKS:
                run[fw] = []

    for index, cell in enumerate(combined.cells):
        key = f"c{index:03d}"
        fw = src.cell_framework(cell)
        if fw is None:
            flush()
            shown = {f: by_id[f].get(key) for f in FRAMEWORKS}
            first = shown[FRAMEWORKS[0]]
            if first is None:  # removed from the student version (e.g. nothing left)
                continue
            second = shown[FRAMEWORKS[1]]
            if second is not None and (first.source != second.source or
                                       _outputs_html(first) != _outputs_html(second)):
                # shared cell that reads differently ({{framework}}) or prints differently
                cols = "".join(f'<div class="col"><h4>{src.FRAMEWORK_TITLES[f]}</h4>'
                               f"{_cell_html(shown[f])}</div>" for f in FRAMEWORKS)
                body.append(f'<div class="row">{cols}</div>')
            else:
                body.append(f'<div class="shared prose">{_cell_html(first)}</div>')
        elif key in by_id[fw]:
            run[fw].append(by_id[fw][key])
    flush()
    title = html.escape(f"{unit.slug} · {kind} · side by side")
    source_rel = unit.layout.rel(unit.lesson_source if kind == "lesson" else unit.assignment_source)
    banner = (f'<p class="banner">Generated by <code>course build</code> from '
              f"<code>{source_rel}</code>: do not edit.</p>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_CSS}</style>{_MATHJAX}</head><body><h1>{title}</h1>{banner}"
            + "\n".join(body) + "</body></html>\n")


def page_path(unit: Unit, kind: str) -> Path:
    folder = unit.layout.lessons if kind == "lesson" else unit.layout.assignments
    return folder / unit.slug / "side-by-side.html"


def pages(unit: Unit, kinds=("lesson", "assignment")) -> dict:
    """{path: html} for the requested kinds whose notebooks exist."""
    result = {}
    for kind in kinds:
        paths = {fw: (unit.lesson(fw) if kind == "lesson" else unit.assignment(fw))
                 for fw in FRAMEWORKS}
        if not all(p.exists() for p in paths.values()):
            continue
        nbs = {fw: nbformat.read(p, as_version=4) for fw, p in paths.items()}
        result[page_path(unit, kind)] = _page(unit, kind, nbs)
    return result
