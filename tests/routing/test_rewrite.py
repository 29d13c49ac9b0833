"""Minimal body rewrites: only what the route names changes; everything else is kept."""

from __future__ import annotations

import orjson

from gomodel.ingress.semantics import parse_chat
from gomodel.providers.spec import SPECS
from gomodel.routing.decision import Policy, decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.rewrite import upstream_body


def _rewrite(body: bytes, ptype: str = "openai", *, model: str | None = None) -> bytes:
    semantics = parse_chat(body)
    upstream = model or semantics.model
    resolution = Resolution("p", upstream, semantics.model, qualified=upstream != semantics.model)
    route = decide(semantics, resolution, SPECS[ptype], Policy())
    return upstream_body(body, semantics, route)


def test_passthrough_is_the_same_bytes() -> None:
    """The fast path sends the client's bytes, whitespace and escapes included."""
    body = (
        b'{ "model" : "gpt-4o",\n "messages": [{"role":"user","content":"caf\\u00e9"}], "x": 1.0}'
    )
    assert _rewrite(body) is body


def test_usage_splice_keeps_client_bytes() -> None:
    """Injecting include_usage splices one member in; the client's bytes follow unchanged."""
    body = b' {"model":"gpt-4o","messages":[{"role":"user","content":"caf\\u00e9"}],"stream":true}'
    out = _rewrite(body)
    assert out == b' {"stream_options":{"include_usage":true},' + body[2:]
    assert orjson.loads(out)["stream_options"] == {"include_usage": True}


def test_usage_merge_keeps_other_stream_options() -> None:
    """Existing stream_options members survive when include_usage is turned on."""
    body = orjson.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "stream_options": {"include_usage": False, "other": 1},
        }
    )
    assert orjson.loads(_rewrite(body))["stream_options"] == {"include_usage": True, "other": 1}


def test_selector_and_provider_field_removed_unknown_fields_kept() -> None:
    """openai/gpt-4o becomes gpt-4o, provider goes, unknown fields keep their order."""
    doc = {
        "provider": "openai",
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "x", "name": "bob"}],
        "vendor_knob": {"deep": [1, 2]},
        "seed": 7,
    }
    out = orjson.loads(_rewrite(orjson.dumps(doc), model="gpt-4o"))
    assert out == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "x", "name": "bob"}],
        "vendor_knob": {"deep": [1, 2]},
        "seed": 7,
    }
    assert list(out) == ["model", "messages", "vendor_knob", "seed"]


def test_reasoning_model_params() -> None:
    """o-series: max_tokens moves to max_completion_tokens and temperature is dropped."""
    doc = {
        "model": "o3-mini",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 9,
        "temperature": 0.3,
        "top_p": 1,
    }
    out = orjson.loads(_rewrite(orjson.dumps(doc)))
    assert out == {
        "model": "o3-mini",
        "messages": doc["messages"],
        "top_p": 1,
        "max_completion_tokens": 9,
    }


def test_reasoning_model_keeps_explicit_max_completion_tokens() -> None:
    """A client that sent both keeps its max_completion_tokens."""
    doc = {
        "model": "gpt-5",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 9,
        "max_completion_tokens": 50,
    }
    out = orjson.loads(_rewrite(orjson.dumps(doc)))
    assert out["max_completion_tokens"] == 50
    assert "max_tokens" not in out


def test_gemini_reasoning_effort() -> None:
    """Gemini gets reasoning_effort at the top level instead of reasoning.effort."""
    doc = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "x"}],
        "reasoning": {"effort": "high"},
    }
    out = orjson.loads(_rewrite(orjson.dumps(doc), "gemini"))
    assert out == {
        "model": "gemini-2.5-flash",
        "messages": doc["messages"],
        "reasoning_effort": "high",
    }


def test_rewrite_does_not_mutate_the_snapshot() -> None:
    """The parsed body stays as the client sent it after a rewrite."""
    body = orjson.dumps(
        {
            "model": "o1",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 3,
            "stream": True,
            "stream_options": {"x": 1},
        }
    )
    semantics = parse_chat(body)
    route = decide(
        semantics,
        Resolution("p", "o1", "o1", qualified=False),
        SPECS["openai"],
        Policy(),
    )
    upstream_body(body, semantics, route)
    assert semantics.doc["max_tokens"] == 3
    assert semantics.doc["stream_options"] == {"x": 1}


def _virtual(body: bytes, target: str, ptype: str = "openai") -> tuple[str, bytes]:
    """The route header and body for a virtual model's target asking for ``target``."""
    semantics = parse_chat(body)
    resolution = Resolution(
        "p", target, semantics.model, qualified=False, virtual=semantics.model, pick="priority"
    )
    route = decide(semantics, resolution, SPECS[ptype], Policy())
    return route.header, upstream_body(body, semantics, route)


def test_virtual_model_with_the_same_id_is_the_fast_path() -> None:
    """A virtual model named like its target's model: the client's bytes, untouched."""
    body = b'{"model": "gpt-4o", "messages": [{"role":"user","content":"caf\\u00e9"}]}'
    header, out = _virtual(body, "gpt-4o")
    assert out is body
    assert header == "passthrough; target=p/gpt-4o; pick=priority"


def test_virtual_model_splices_only_the_model_value() -> None:
    """Another upstream id: only the top-level model value changes, every other byte stays,
    nested "model" members and escapes included."""
    body = (
        b'{ "messages": [{"role":"user","content":"say \\"model\\":\\"smart\\""}],\n'
        b'  "tools": [{"type":"function","function":{"name":"f","parameters":'
        b'{"properties":{"model":{"type":"string"}}}}}],\n  "model" : "smart", "x": 1.0}'
    )
    header, out = _virtual(body, "gpt-4o-mini")
    assert out == body.replace(b'"model" : "smart"', b'"model" : "gpt-4o-mini"')
    assert header == "rewrite; virtual_model; target=p/gpt-4o-mini; pick=priority"


def test_virtual_model_splice_with_usage_injected() -> None:
    body = b'{"model":"smart","messages":[{"role":"user","content":"x"}],"stream":true}'
    header, out = _virtual(body, "gpt-4o")
    assert out == (
        b'{"stream_options":{"include_usage":true},"model":"gpt-4o",'
        b'"messages":[{"role":"user","content":"x"}],"stream":true}'
    )
    assert header.startswith("rewrite; virtual_model, usage_injected; target=p/gpt-4o")


def test_virtual_model_splice_falls_back_when_unsure() -> None:
    """A model written with escapes, or matched twice, is re-encoded instead: still right."""
    escaped = b'{"m\\u006fdel":"smart","messages":[{"role":"user","content":"x"}]}'
    _, out = _virtual(escaped, "gpt-4o")
    assert orjson.loads(out) == {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    twice = (
        b'{"model":"smart","messages":[{"role":"user","content":"x"}],"metadata":{"model":"smart"}}'
    )
    _, out = _virtual(twice, "gpt-4o")
    assert orjson.loads(out)["metadata"] == {"model": "smart"}
    assert orjson.loads(out)["model"] == "gpt-4o"


def test_virtual_model_target_on_another_dialect_is_translated() -> None:
    body = b'{"model":"smart","messages":[{"role":"user","content":"x"}],"max_tokens":5}'
    header, _ = _virtual(body, "claude-sonnet-4-5", "anthropic")
    assert header == "translate; dialect, virtual_model; target=p/claude-sonnet-4-5; pick=priority"
