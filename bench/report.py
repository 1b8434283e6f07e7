"""Write a benchmark's figures into docs/benchmarks.md, one section per benchmark."""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Sequence
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by `make bench` (`python -m betting bench NAME`); each section is replaced by the\n"
    "latest run of its benchmark. Figures are from the machine named in each section.\n"
)


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def record(name: str, summary_line: str, details: list[str], extra: Sequence[str] = ()) -> None:
    """Replace (or add) the section `## name` with the summary line, detail bullets and any
    extra lines (a table, say) after them."""
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = "\n".join(
        [f"## {name}", "", f"Run {stamp} on {machine()}.", "", "```", summary_line, "```", ""]
        + [f"- {line}" for line in details]
        + (["", *list(extra)] if extra else [])
    )
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(body + "\n\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n")
