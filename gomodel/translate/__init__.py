"""Translation between the OpenAI API clients speak and the dialects providers speak.

Every module here is pure (no trio, httpx or hypercorn): plain dicts parsed by orjson go in,
plain dicts (or encoded SSE bytes, for stream engines) come out, and failures are
:class:`~gomodel.errors.GatewayError`\\ s naming the offending field.

* :mod:`gomodel.translate.anthropic_request`: OpenAI chat request -> Anthropic Messages request.
* :mod:`gomodel.translate.anthropic_response`: Anthropic message -> ``chat.completion``, usage,
  and Anthropic error bodies -> gateway errors.
* :mod:`gomodel.translate.anthropic_stream`: Anthropic SSE events -> ``chat.completion.chunk``
  events, as a sans-IO engine the stream relay drives.
* :mod:`gomodel.translate.responses` (with ``responses_output`` and ``responses_stream``):
  Responses API request -> chat request, ``chat.completion`` -> ``response``, chat chunks ->
  Responses stream events, and the observer of native Responses streams.
* :mod:`gomodel.translate.stage`: the protocol every stream engine implements, and two engines
  chained on parsed chunks (Anthropic -> chat -> Responses).
* :mod:`gomodel.translate.dialects`: per provider dialect, how a chat request goes upstream and
  how its answer comes back.
"""
