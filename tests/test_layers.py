"""The pure core imports no trio, httpx or hypercorn (ARCHITECTURE.md "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gomodel

ROOT = Path(gomodel.__file__).parent
PURE = [
    "errors.py",
    "config.py",
    "termination.py",
    "ingress",
    "routing",
    "wire",
    "translate",
    "providers/spec.py",
    "providers/endpoints.py",
    "usage/extract.py",
    "usage/chat_stream.py",
    "usage/record.py",
    "usage/pricing.py",
    "usage/row.py",
    "storage/queries.py",
    "app/auth.py",
    "redis/resp.py",
    "redis/script.py",
    "redis/settings.py",
    "limits/model.py",
    "limits/windows.py",
    "limits/plan.py",
    "limits/headers.py",
    "limits/store.py",
    "limits/memory.py",
]
FORBIDDEN = {"trio", "httpx", "httpcore", "hypercorn", "h11"}


def _modules() -> list[Path]:
    found: list[Path] = []
    for entry in PURE:
        path = ROOT / entry
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("gomodel."):
                roots.add(node.module)
    return roots


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports(path: Path) -> None:
    """A pure module imports no I/O library, and no gomodel module from the I/O shell."""
    imported = _imported_roots(path)
    assert not imported & FORBIDDEN
    shell = {
        m for m in imported if m.startswith(("gomodel.relay", "gomodel.app.asgi", "gomodel.serve"))
    }
    assert not shell


def test_public_names_sorted() -> None:
    """gomodel.__all__ is sorted and every name in it exists."""
    assert gomodel.__all__ == sorted(gomodel.__all__)
    for name in gomodel.__all__:
        assert hasattr(gomodel, name)
