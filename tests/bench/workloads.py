"""The workloads: what is posted where, through a server and directly to the mock.

``failover`` is ``chat`` through a virtual model whose first target is a deployment that is
down (the mock answers 503 at once on ``/failing/``): every request costs one failed attempt
and one failover, reported beside plain chat. Only the gateway runs it (the direct figure is
plain chat's provider call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

__all__ = ["FAILOVER_MODEL", "GATEWAY_ONLY", "WORKLOADS", "Workload", "workload_names"]

# About 150 characters, like a short chat turn.
PROMPT = (
    "Summarise in two sentences why a gateway in front of several language model providers "
    "should add as little latency as possible to every streamed answer."
)
_MESSAGES = [{"role": "user", "content": PROMPT}]
_INCLUDE_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


@dataclass(frozen=True)
class Workload:
    name: str
    model: str
    path: str  # on the gateway (and hello, litellm)
    body: Mapping[str, object]
    direct_path: str  # on the mock: the provider request the gateway makes for it
    direct_body: Mapping[str, object]
    stream: bool
    # The last event a complete stream carries through a server, and directly from the mock.
    end_marker: str | None = None
    direct_end_marker: str | None = None
    route: str | None = None  # the X-GoModel-Route this workload should get (its prefix)

    def payload(self, model: str | None = None) -> bytes:
        return orjson.dumps({**self.body, "model": model or self.model})

    def direct_payload(self) -> bytes:
        return orjson.dumps(self.direct_body)


_CHAT = {"model": "gpt-4o-mini", "messages": _MESSAGES}
FAILOVER_MODEL = "bench-failover"  # servers.gateway_env: vllm (down), then openai
_TRANSLATED = {
    "model": "claude-sonnet-4-5",
    "messages": _MESSAGES,
    **_INCLUDE_USAGE,
    "max_tokens": 256,
}
_ANTHROPIC = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": _MESSAGES,
    "stream": True,
}
_RESPONSES = {"model": "gpt-4o-mini", "input": PROMPT, "stream": True}
# Anthropic's Messages API to an OpenAI model, and the chat request the gateway makes of it.
_MESSAGES_TO_GPT = {**_ANTHROPIC, "model": "gpt-4o-mini"}
_MESSAGES_AS_CHAT = {"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 256}
_MESSAGES_AS_CHAT |= _INCLUDE_USAGE

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "chat",
            "gpt-4o-mini",
            "/v1/chat/completions",
            _CHAT,
            "/v1/chat/completions",
            _CHAT,
            stream=False,
            route="passthrough",
        ),
        Workload(
            "failover",
            FAILOVER_MODEL,
            "/v1/chat/completions",
            {**_CHAT, "model": FAILOVER_MODEL},
            "/v1/chat/completions",
            _CHAT,
            stream=False,
            route="rewrite; virtual_model; target=openai/gpt-4o-mini; pick=failover",
        ),
        Workload(
            "stream",
            "gpt-4o-mini",
            "/v1/chat/completions",
            {**_CHAT, **_INCLUDE_USAGE},
            "/v1/chat/completions",
            {**_CHAT, **_INCLUDE_USAGE},
            stream=True,
            end_marker="data: [DONE]",
            direct_end_marker="data: [DONE]",
            route="passthrough",
        ),
        Workload(
            "translated",
            "claude-sonnet-4-5",
            "/v1/chat/completions",
            _TRANSLATED,
            "/anthropic/v1/messages",
            _ANTHROPIC,
            stream=True,
            end_marker="data: [DONE]",
            direct_end_marker="event: message_stop",
            route="translate",
        ),
        Workload(
            "messages",
            "claude-sonnet-4-5",
            "/v1/messages",
            _ANTHROPIC,
            "/anthropic/v1/messages",
            _ANTHROPIC,
            stream=True,
            end_marker="event: message_stop",
            direct_end_marker="event: message_stop",
            route="passthrough",
        ),
        Workload(
            "messages_translated",
            "gpt-4o-mini",
            "/v1/messages",
            _MESSAGES_TO_GPT,
            "/v1/chat/completions",
            _MESSAGES_AS_CHAT,
            stream=True,
            end_marker="event: message_stop",
            direct_end_marker="data: [DONE]",
            route="translate",
        ),
        Workload(
            "responses",
            "gpt-4o-mini",
            "/v1/responses",
            _RESPONSES,
            "/v1/responses",
            _RESPONSES,
            stream=True,
            end_marker="response.completed",
            direct_end_marker="response.completed",
        ),
    )
}


# Workloads that need the gateway's own configuration (LiteLLM is not asked to run them).
GATEWAY_ONLY = frozenset({"failover"})


def workload_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    return names
