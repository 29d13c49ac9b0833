"""``gomodel serve | demo | check-config``.

A bad setting exits with status 2 and one line naming the setting and what is wrong.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import attrs
import trio

from gomodel.config import Config, ProviderConfig, describe_config, load_config
from gomodel.errors import ConfigError
from gomodel.logs import setup_logging
from gomodel.process import raise_fd_limit

__all__ = ["main"]

log = logging.getLogger("gomodel")

DEMO_KEY = "demo-key"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if getattr(args, "host", None) is not None:
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    try:
        config = load_config(os.environ, config_path=args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"gomodel: invalid configuration: {exc}", file=sys.stderr)
        return 2
    setup_logging(config)
    if args.command == "check-config":
        print(describe_config(config))
        return 0
    # Two sockets per stream: the default soft limit (often 1,024) refuses the 500th stream.
    raise_fd_limit()
    if args.command == "demo" or getattr(args, "demo", False):
        trio.run(_run_demo, config, getattr(args, "fault", None))
        return 0
    if args.workers < 1:
        print("gomodel: invalid configuration: --workers: must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        trio.run(_run_single, config)
        return 0
    return _run_workers(config, args.workers, args.config)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gomodel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "run the gateway under hypercorn's trio worker"),
        ("demo", "run the gateway beside a built-in mock provider (no key needed)"),
        ("check-config", "print the effective configuration, secrets masked"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--config", help="YAML config file (default: config.yaml if present)")
        if name == "check-config":
            continue
        command.add_argument(
            "--host", help="address to listen on (default: $GOMODEL_HOST, else 127.0.0.1)"
        )
        command.add_argument("--port", type=int, help="port (default: $PORT, else 8080)")
        if name == "serve":
            command.add_argument("--workers", type=int, default=1, help="worker processes")
            command.add_argument("--demo", action="store_true", help="same as `gomodel demo`")
        if name in ("serve", "demo"):
            from gomodel.testing.faults import SCENARIOS

            command.add_argument(
                "--fault",
                choices=sorted(SCENARIOS),
                help="demo: the mock provider 'demo' gets two deployments, the first with this "
                "fault (see docs/resilience.md), so requests fail over to the second",
            )
    return parser


def _gateway(config: Config) -> Callable[..., Awaitable[None]]:
    """``serve_gateway`` for ``config`` as the CLI runs it (until SIGINT or SIGTERM, with the
    configured keep-alive and grace period), to pass to ``nursery.start``."""
    from gomodel.app.asgi import GatewayApp
    from gomodel.serve import ServerSettings, serve_gateway, wait_for_signal

    return partial(
        serve_gateway,
        GatewayApp(config),
        config.host,
        config.port,
        shutdown_trigger=wait_for_signal,
        settings=attrs.evolve(ServerSettings.from_config(config), tune_gc=True),
    )


async def _run_single(config: Config) -> None:
    async with trio.open_nursery() as nursery:
        url = await nursery.start(_gateway(config))
        log.info("gomodel listening on %s", url)


async def _run_demo(config: Config, fault: str | None = None) -> None:
    from gomodel.routing.strategy import Strategy
    from gomodel.routing.virtual import Group
    from gomodel.testing import MockUpstream, serve_mock_upstream
    from gomodel.testing.faults import SCENARIOS

    async with trio.open_nursery() as nursery:
        mock = MockUpstream(models=("gpt-4o-mini", "gpt-4o"), stream_gap=0.05 if fault else 0.0)
        upstream = await nursery.start(serve_mock_upstream, mock)
        if fault is None:
            demo = ProviderConfig(name="demo", type="openai", base_url=upstream, api_key=DEMO_KEY)
            config = attrs.evolve(config, providers=(*config.providers, demo))
        else:
            scenario = SCENARIOS[fault]
            mock.fail(scenario.fault, path="/chat/completions", times=None, every=scenario.every)
            backup_mock = MockUpstream(models=("gpt-4o-mini", "gpt-4o"), stream_gap=0.05)
            backup = await nursery.start(serve_mock_upstream, backup_mock)
            deployments = tuple(
                ProviderConfig(f"demo.{n}", "openai", url, DEMO_KEY, group="demo")
                for n, url in (("primary", upstream), ("backup", backup))
            )
            group = Group("demo", tuple(p.name for p in deployments), strategy=Strategy.PRIORITY)
            config = attrs.evolve(
                config,
                providers=(*config.providers, *deployments),
                groups=(*config.groups, group),
            )
            print(
                f"gomodel demo: fault {fault!r} ({scenario.description}) on deployment "
                "demo.primary; demo.backup is healthy; see X-GoModel-Route and "
                "X-GoModel-Attempts (curl -i)",
                flush=True,
            )

        async def gateway(task_status: trio.TaskStatus[str]) -> None:
            await _gateway(config)(task_status=task_status)
            nursery.cancel_scope.cancel()  # the gateway has shut down: stop the mock too

        url = await nursery.start(gateway)
        auth = f" -H 'Authorization: Bearer {config.master_key}'" if config.master_key else ""
        print(
            f"gomodel demo: gateway on {url}, mock provider 'demo' on {upstream}\n"
            f"try:  curl -s {url}/v1/models{auth}\n"
            f"      curl -s {url}/v1/chat/completions{auth} -H 'Content-Type: application/json' "
            "-d '"
            '{"model": "demo/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
            "'",
            flush=True,
        )


def _run_workers(config: Config, workers: int, config_path: str | None) -> int:
    from gomodel.observe import multiproc
    from gomodel.serve import run_workers

    if config_path:  # each worker process loads the configuration again from the environment
        os.environ["GOMODEL_CONFIG"] = os.path.abspath(config_path)
    if not config.metrics_enabled or os.environ.get(multiproc.ENV):
        return run_workers(config, workers)
    # The workers write their metrics to one fresh private directory, removed on exit
    # (gomodel/observe/multiproc.py).
    directory = multiproc.for_workers()
    os.environ[multiproc.ENV] = str(directory)
    try:
        return run_workers(config, workers)
    finally:
        del os.environ[multiproc.ENV]
        shutil.rmtree(directory, ignore_errors=True)
