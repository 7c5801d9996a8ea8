"""Product Python size at two git revisions, three ways (issue 19's measure).

``python -m bench.code_size [OLD] [NEW]`` (defaults: ``HEAD~1`` and ``HEAD``) prints lines by ``wc -l``,
non-blank non-comment lines, and code lines without docstrings (as cloc counts), with NEW/OLD ratios.
Product Python is every tracked ``.py`` file outside ``tests/``, ``bench/`` and ``testinfra/``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys

NOT_PRODUCT = re.compile(r"^(tests|bench|testinfra)/")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def _docstring_lines(source: str) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def measure(revision: str) -> dict[str, int]:
    """Lines of product Python at ``revision``: ``wc``, ``non-blank`` (no comments) and ``code`` (no docstrings)."""
    files = [
        f
        for f in _git("ls-tree", "-r", "--name-only", revision).split()
        if f.endswith(".py") and not NOT_PRODUCT.match(f)
    ]
    totals = {"files": len(files), "wc": 0, "non-blank": 0, "code": 0}
    for name in files:
        source = _git("show", f"{revision}:{name}")
        docstrings = _docstring_lines(source)
        for number, line in enumerate(source.splitlines(), 1):
            totals["wc"] += 1
            if line.strip() and not line.strip().startswith("#"):
                totals["non-blank"] += 1
                totals["code"] += number not in docstrings
    return totals


def main() -> None:
    old, new = (sys.argv[1:] + ["HEAD~1", "HEAD"][len(sys.argv[1:]) :])[:2]
    before, after = measure(old), measure(new)
    print(f"| measure | {old} | {new} | {new}/{old} |\n|---|---:|---:|---:|")
    for key in before:
        print(f"| {key} | {before[key]:,} | {after[key]:,} | {after[key] / before[key]:.2f} |")


if __name__ == "__main__":
    main()
