"""The pure core imports no trio, httpx or hypercorn (ARCHITECTURE.md "Layers"), directly or
through another gomodel module it imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gomodel

ROOT = Path(gomodel.__file__).parent
PURE = [
    "errors.py",
    "config",
    "termination.py",
    "ingress",
    "routing",
    "resilience",
    "wire",
    "translate",
    "providers/spec.py",
    "providers/endpoints.py",
    "providers/passthrough_headers.py",
    "usage/extract.py",
    "usage/chat_stream.py",
    "usage/record.py",
    "usage/pricing.py",
    "usage/row.py",
    "storage/queries.py",
    "storage/spill.py",
    "storage/sql.py",
    "storage/usage_schema.py",
    "app/admin_query.py",
    "pipeline/outcome.py",
    "keys/__init__.py",
    "keys/secret.py",
    "keys/record.py",
    "keys/models.py",
    "keys/admin_input.py",
    "redis/resp.py",
    "redis/script.py",
    "redis/settings.py",
    "limits/model.py",
    "limits/windows.py",
    "limits/plan.py",
    "limits/headers.py",
    "limits/store.py",
    "limits/memory.py",
    "observe/series.py",
    "observe/access.py",
    "audit/redact.py",
    "audit/reassemble.py",
    "audit/entry.py",
    "audit/query.py",
]
FORBIDDEN = {"trio", "httpx", "httpcore", "hypercorn", "h11"}


def _modules() -> list[Path]:
    found: list[Path] = []
    for entry in PURE:
        path = ROOT / entry
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _source(module: str) -> Path | None:
    """The file of a gomodel module (or package), if ``module`` names one."""
    if not module.startswith("gomodel."):
        return None
    relative = Path(*module.split(".")[1:])
    for candidate in (ROOT / relative.with_suffix(".py"), ROOT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _reachable(path: Path) -> tuple[set[str], set[Path]]:
    """The outside modules ``path`` imports, directly or through the gomodel modules it
    imports (followed to the end), and those gomodel files."""
    outside: set[str] = set()
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for module in _imports(current):
            source = _source(module)
            if source is not None:
                todo.append(source)
            elif not module.startswith("gomodel"):
                outside.add(module.split(".")[0])
    return outside, seen


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports(path: Path) -> None:
    """A pure module reaches no I/O library, and no gomodel module from the I/O shell, by any
    chain of imports."""
    outside, files = _reachable(path)
    assert not outside & FORBIDDEN
    shell = {"relay", "app", "pipeline/run.py", "serve.py", "cli.py", "providers/client.py"}
    reached = {str(f.relative_to(ROOT)) for f in files if f != path}
    assert not {r for r in reached if any(r.startswith(s) for s in shell)}


def test_public_names_sorted() -> None:
    """gomodel.__all__ is sorted and every name in it exists."""
    assert gomodel.__all__ == sorted(gomodel.__all__)
    for name in gomodel.__all__:
        assert hasattr(gomodel, name)
