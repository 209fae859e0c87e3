"""The truth rule, as far as a test can read it from the committed notebooks.

Every sentence that states a result is backed by an ``assert`` next to it (nbval runs
those). What can be checked mechanically is checked here: a number that the prose quotes
(a decimal, a percentage, a ratio such as ``3.8x``, or a count written with thousands
separators) must appear in the source or the text output of a nearby code cell, so that a
retrained model cannot leave a stale number in the text. Numbers inside equations
(``$...$``), code spans and links are notation, not results, and are skipped. The title,
learning goals, summary and exercises restate results shown elsewhere: their numbers may
be backed by any cell of the notebook. See CONTRIBUTING.md, "The truth rule".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WINDOW = 2  # code cells before and after a markdown cell that may back its numbers
RESTATING = ("learning goals", "summary", "exercise", "what comes next")

# math, display math, code spans, links and images, HTML comments: not prose results
_NOT_PROSE = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`]*`|!?\[[^\]]*\]\([^)]*\)|<!--.*?-->|https?://\S+",
    re.DOTALL,
)
_NUMBER = re.compile(
    r"(?<![\w.,])("
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 168,086 or 60,000
    r"|\d+\.\d+"  # 0.0262
    r"|\d+(?=\s?%)"  # 76 %
    r"|\d+(?=x\b)"  # 4x
    r")(?![\d])"
)


def _text(cell: dict) -> str:
    return "".join(cell["source"])


def _outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out.get("data", {})
            for kind in ("text/plain", "text/markdown", "text/html"):
                if kind in data:
                    parts.append("".join(data[kind]))
    return "\n".join(parts)


def _normal(s: str) -> str:
    return s.replace(",", "").replace("_", "")


def quoted_numbers(markdown: str) -> list[str]:
    """The numbers that a markdown cell states in its prose (not in equations or code)."""
    prose = _NOT_PROSE.sub(" ", markdown)
    prose = re.sub(r"^#+ .*$", " ", prose, flags=re.MULTILINE)  # headings: section numbers
    return [m.group(1) for m in _NUMBER.finditer(prose)]


def backed(number: str, evidence: str) -> bool:
    """True if ``number`` (commas ignored) occurs as a whole number in ``evidence``."""
    n = re.escape(_normal(number))
    return re.search(rf"(?<![\d.]){n}(?!\d)", _normal(evidence)) is not None


def unbacked(nb: dict) -> list[tuple[int, str]]:
    """(cell index, number) for every quoted number that no nearby code cell shows."""
    cells = nb["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    everything = "\n".join(_text(cells[i]) + "\n" + _outputs(cells[i]) for i in code)
    restating, missing = False, []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = _text(cell)
        heading = re.search(r"^#+ (.*)$", text, flags=re.MULTILINE)
        if heading:
            restating = i == 0 or any(w in heading.group(1).lower() for w in RESTATING)
        if restating:
            evidence = everything
        else:
            before = [j for j in code if j < i][-WINDOW:]
            after = [j for j in code if j > i][:WINDOW]
            evidence = "\n".join(_text(cells[j]) + "\n" + _outputs(cells[j])
                                 for j in before + after)  # fmt: skip
        missing += [(i, n) for n in quoted_numbers(text) if not backed(n, evidence)]
    return missing


def test_the_reader_recognises_numbers():
    text = "MSE 0.0262 vs $k = 2$ and `lr=1e-3`; 76 % of tiles, 3.8x faster, 168,086 weights"
    assert quoted_numbers(text) == ["0.0262", "76", "3.8", "168,086"]
    assert backed("168,086", "total 168086") and backed("0.0262", "mse=0.0262\n")
    assert not backed("0.026", "0.0262") and not backed("2.79", "12.79")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_in_prose_are_backed_by_nearby_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    missing = unbacked(nb)
    assert not missing, (
        f"{path.name}: numbers in the prose that no nearby code cell prints or asserts "
        f"(cell index, number): {missing}. Print the value in the cell that computes it, "
        "assert it, or move it into an equation if it is notation, not a result."
    )
