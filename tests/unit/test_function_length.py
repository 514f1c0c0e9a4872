"""No function in cds_service/ is over 60 lines, unless it is a declarative table (listed here, with why).

Run it as a script to list every function over the limit: ``python tests/unit/test_function_length.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

LIMIT = 60
PACKAGE = Path(__file__).resolve().parents[2] / "cds_service"
# path relative to cds_service/ and function name -> why it may be longer
DECLARATIVE = {
    ("cds_hooks/openapi.py", "build_document"): "the OpenAPI document as one literal",
}


def long_functions(root: Path = PACKAGE, limit: int = LIMIT) -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append((path.relative_to(root).as_posix(), node.name, length))
    return found


def test_no_function_is_over_60_lines_unless_a_declarative_table():
    over = [(path, name, n) for path, name, n in long_functions() if (path, name) not in DECLARATIVE]
    assert over == [], "split these (or, for a declarative table, list it in DECLARATIVE with why): " + str(over)


def test_the_checker_finds_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n" + "    x = 1\n" * 60 + "\n\ndef g():\n    return 1\n")
    assert long_functions(tmp_path) == [("m.py", "f", 61)]


if __name__ == "__main__":
    for path, name, length in long_functions():
        print(f"{length:4d}  cds_service/{path}  {name}")
