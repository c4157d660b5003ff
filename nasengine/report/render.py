"""Rendering report blocks (``nasengine.report.document``) as Markdown and as one
self-contained HTML page."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence


def to_markdown(blocks: list[tuple]) -> str:
    """Render report blocks as Markdown (images referenced by file name)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "code":
            lines += ["```", block[1], "```", ""]
        elif kind == "details":
            lines += [f"<details><summary>{block[1]}</summary>", "", "```yaml", block[2], "```", "", "</details>", ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({Path(block[1]).name})", "", f"*{block[2]}*", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def to_html(blocks: list[tuple], title: str = "nasengine report") -> str:
    """Render report blocks as one self-contained HTML page (PNGs embedded as data URIs)."""
    import base64
    import html

    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "code":
            parts.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        elif kind == "details":
            parts.append(f"<details><summary>{html.escape(block[1])}</summary><pre><code>{html.escape(block[2])}"
                         "</code></pre></details>")
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            parts.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(block[2])}\">"
                         f"<figcaption>{_inline(block[2])}</figcaption></figure>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _inline(text: str) -> str:
    import html
    import re

    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', text)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f8fa;padding:0.8em;"
        "overflow-x:auto;white-space:pre-wrap}code{font-size:0.92em}figure{margin:1.5em 0}img{max-width:100%}"
        "figcaption{color:#555;font-size:0.9em}")


def records_tail(labels: Sequence[str], commands: Sequence[str | None], command: str = "") -> list[tuple]:
    """The closing blocks of a report of recorded runs: each run's command and when (and by
    which command) the report was made."""
    made = f"Made {datetime.now(timezone.utc).isoformat(timespec='seconds')}" + (f" by `{command}`" if command else "")
    return [("h2", "Commands"), ("code", "\n".join(f"{label}: {c or '(not recorded)'}" for label, c in zip(labels, commands))),
            ("p", made + ".")]


def write_documents(out: Path, blocks: list[tuple], title: str, table: tuple[list[str], list[list[str]]]) -> dict[str, Path]:
    """``report.md``, ``report.html`` (titled ``title``) and ``summary.txt`` (``table`` as text) in ``out``."""
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, title), encoding="utf-8")
    (out / "summary.txt").write_text("\n".join("  ".join(row) for row in [table[0], *table[1]]) + "\n", encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html", "summary": out / "summary.txt"}
