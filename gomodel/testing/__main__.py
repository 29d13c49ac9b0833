"""``python -m gomodel.testing [--port N] [--stream-gap S]``: run the mock provider alone.

Prints its base URL on the first line; useful for benchmarks and for trying the gateway.
"""

from __future__ import annotations

import argparse
from functools import partial

import trio

from gomodel.testing.mock_upstream import MockUpstream, serve_mock_upstream


async def _main(port: int, stream_gap: float) -> None:
    mock = MockUpstream(models=("gpt-4o-mini", "gpt-4o"), stream_gap=stream_gap)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_mock_upstream, mock, port=port))
        print(url, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gomodel.testing")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stream-gap", type=float, default=0.0)
    args = parser.parse_args()
    try:
        trio.run(_main, args.port, args.stream_gap)
    except KeyboardInterrupt:
        pass


main()
