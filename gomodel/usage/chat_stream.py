"""Watch an OpenAI-compatible chat stream go by, event by event (sans-IO).

:class:`ChatStreamObserver` sees every complete SSE event of the upstream stream and says which
bytes the client gets for it: the event's own bytes (the usual case, untouched), nothing (the
usage-only chunk the gateway asked for on the client's behalf), or the event re-encoded without
its ``usage`` member (providers such as Groq put usage on the chunk that carries content). It
records the last usage-bearing event (SPEC §5.4), whether the terminal ``[DONE]`` arrived, and
the upstream's response id and model. Only events that mention ``"usage"`` are parsed.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import attrs
import orjson

from gomodel.errors import GatewayError
from gomodel.usage.extract import Usage, usage_from_object
from gomodel.wire.sse import Event, encode_data

__all__ = ["ChatStreamObserver"]

_NULL_USAGE = b',"usage":null}'


@attrs.define
class ChatStreamObserver:
    hide_usage: bool = False  # the gateway injected include_usage; the client must not see it
    usage: Usage | None = None
    done: bool = False
    events: int = 0  # data events seen
    provider_id: str | None = None
    model: str | None = None
    # OpenAI-compatible providers report mid-stream failures as ordinary events, relayed as is.
    error: GatewayError | None = None

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client receives for ``event`` (``None``: nothing)."""
        data = event.data
        if data is None:
            return event.raw  # comments and keep-alives pass through
        if event.is_done:
            self.done = True
            return event.raw
        self.events += 1
        if b'"usage"' not in data:
            return event.raw
        if data.endswith(_NULL_USAGE) and data.count(b'"usage"') == 1:
            # With include_usage OpenAI ends every chunk but the last with "usage":null (the
            # last member of the top-level object): nothing to read, so nothing to parse. If
            # the gateway asked for usage on the client's behalf, the member is cut out of the
            # provider's bytes rather than the chunk re-encoded.
            if not self.hide_usage:
                return event.raw
            return encode_data(data[: -len(_NULL_USAGE)] + b"}")
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return event.raw  # not ours to judge; the client's parser will say
        if not isinstance(chunk, dict):
            return event.raw
        if self.provider_id is None and isinstance(chunk.get("id"), str):
            self.provider_id = chunk["id"]
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        usage = usage_from_object(chunk.get("usage"))
        if usage is not None:
            self.usage = usage  # the last usage-bearing event wins
        if not self.hide_usage or "usage" not in chunk:
            return event.raw
        if chunk.get("choices") == [] or "choices" not in chunk:
            return None  # the usage-only chunk the client did not ask for
        del chunk["usage"]
        return encode_data(orjson.dumps(chunk))
