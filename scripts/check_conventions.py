"""House conventions that ruff cannot express: no print() in the package outside the CLI,
no HTTP exceptions outside forewarn/api, no pickle anywhere in the package."""

from __future__ import annotations

import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "forewarn"
RULES = (
    (re.compile(r"^\s*print\("), "print() outside the CLI", ("cli",)),
    (
        # The standard library's http.client.HTTPException is not a web-framework error.
        re.compile(r"(?<!client\.)HTTPException|from fastapi|import fastapi"),
        "HTTP outside forewarn/api",
        ("api", "cli"),
    ),
    (re.compile(r"^\s*(import pickle|from pickle|import joblib)"), "pickle in the package", ()),
)


def problems() -> list[str]:
    """Every line that breaks a rule, as path:line: message."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, message, allowed in RULES:
                if part not in allowed and pattern.search(line):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {message}")
    return found


if __name__ == "__main__":
    issues = problems()
    print("\n".join(issues) or "conventions: ok")
    sys.exit(1 if issues else 0)
