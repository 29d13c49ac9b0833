"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """gomodel against a C mock, the server floor and (--with-litellm) LiteLLM; see
    docs/benchmarks.md. Options after ``--``, e.g. ``nox -s bench -- --smoke``."""
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "tests.bench", *session.posargs)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """nginx -> two replicas sharing PostgreSQL -> mock provider (docs/deploy/); needs nginx."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/integration", "-s", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test,lint]")
    session.run("ruff", "check", "gomodel", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "gomodel", "tests", "noxfile.py")
    session.run("mypy")
