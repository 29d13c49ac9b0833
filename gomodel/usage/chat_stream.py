"""Watch an OpenAI-compatible chat stream go by, event by event (a sans-IO stream stage).

:class:`ChatStreamObserver` sees every complete SSE event of the upstream stream and says which
bytes the client gets for it: the event's own bytes (the usual case, untouched), nothing (the
usage-only chunk the gateway asked for on the client's behalf), or the event re-encoded without
its ``usage`` member (providers such as Groq put usage on the chunk that carries content). It
records the last usage-bearing event (SPEC §5.4), whether the terminal ``[DONE]`` arrived, and
the upstream's response id and model. Only events that mention ``"usage"`` or ``"error"`` are
parsed.

Two things are failures, not content (``error`` is set and the event is not relayed, so the relay
answers with a real status when nothing was sent yet, else ends the stream with its error
event): an ``{"error": {...}}`` chunk (OpenAI-compatible servers report failures in-band, some
as the first event of a 200 stream), and ``[DONE]`` before any chunk (an empty answer).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import attrs
import orjson

from gomodel.errors import GatewayError, UpstreamError, error_from_upstream
from gomodel.translate.stage import StreamResult
from gomodel.usage.extract import Usage, usage_from_object
from gomodel.wire.sse import Event, encode_data

__all__ = ["ChatStreamObserver", "inband_error"]

_NULL_USAGE = b',"usage":null}'


def inband_error(provider: str, payload: object, data: bytes) -> GatewayError:
    """The gateway error for an ``{"error": ...}`` stream event. Its status is the one the
    event names (``code`` or ``status``, OpenRouter's style), else 502."""
    status = 502
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        for name in ("status", "code"):
            value = error.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
                status = value
                break
    return error_from_upstream(provider, status, data)


@attrs.define
class ChatStreamObserver:
    hide_usage: bool = False  # the gateway injected include_usage; the client must not see it
    provider_name: str = "provider"  # for error messages
    usage: Usage | None = None
    done: bool = False
    events: int = 0  # data events seen
    provider_id: str | None = None
    model: str | None = None
    error: GatewayError | None = None

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client receives for ``event`` (``None``: nothing)."""
        data = event.data
        if data is None:
            return event.raw  # comments and keep-alives pass through
        if event.is_done:
            if self.events == 0:
                message = f"{self.provider_name} returned an empty stream"
                self.error = UpstreamError(message, code="empty_stream")
                return None
            self.done = True
            return event.raw
        self.events += 1
        if b'"usage"' not in data and b'"error"' not in data:
            return event.raw
        if data.endswith(_NULL_USAGE) and data.count(b'"usage"') == 1 and b'"error"' not in data:
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
        if chunk.get("error") is not None:
            self.error = inband_error(self.provider_name, chunk, data)
            return None
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

    def finish(self) -> bytes | None:
        """At upstream EOF: a chat stream relayed as it came has nothing to add."""
        return None

    def result(self) -> StreamResult:
        return StreamResult(self.done, self.usage, self.model, self.provider_id)
