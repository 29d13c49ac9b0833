"""What a request may cost at most, before it goes upstream; and its output cap.

* Input: an upper bound from the body. A token covers at least one byte of UTF-8 text, so the
  body's size bounds the text's tokens (generously: about 4x for English); each image or file
  part adds :data:`MEDIA_TOKENS`, more than any provider charges for one.
* Output: the request's own cap (``max_tokens``, ``max_completion_tokens``,
  ``max_output_tokens``, by operation). A budgeted request without one gets the gateway's
  default cap written into its body, so the provider itself stops within the reservation.
* Cost: the price table's rates, in nano-dollars per token rounded up, the dearest rate for
  each side (cache writes cost more than fresh input; reasoning may cost more than output).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs

from gomodel.ingress.semantics import Operation, Semantics
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import Price, compute_cost

__all__ = [
    "MEDIA_TOKENS",
    "output_cap",
    "prompt_bound",
    "token_rates",
    "usage_cost",
    "with_output_cap",
]

MEDIA_TOKENS = 2000  # per image or file part: above a high-detail image's cost anywhere
_MEDIA_PARTS = (b'"image_url"', b'"input_image"', b'"image"', b'"input_file"', b'"file"')
_CAP_FIELDS = {
    Operation.CHAT: ("max_completion_tokens", "max_tokens"),
    Operation.RESPONSES: ("max_output_tokens",),
    Operation.PASSTHROUGH: ("max_tokens", "max_completion_tokens", "max_output_tokens"),
}


def prompt_bound(body: bytes) -> int:
    """At least as many input tokens as the body can cost."""
    media = sum(body.count(part) for part in _MEDIA_PARTS)
    return len(body) + media * MEDIA_TOKENS


def output_cap(semantics: Semantics) -> int | None:
    """The output cap the request asks for, if it asks for one (0 for embeddings)."""
    if semantics.operation is Operation.EMBEDDINGS:
        return 0
    for name in _CAP_FIELDS.get(semantics.operation, ("max_tokens",)):
        value = semantics.doc.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def with_output_cap(semantics: Semantics, cap: int) -> Semantics:
    """``semantics`` with its body's output cap set to ``cap`` (the field it already uses, else
    the operation's usual one)."""
    names = _CAP_FIELDS.get(semantics.operation, ("max_tokens",))
    name = next((n for n in names if n in semantics.doc), names[-1])
    doc = {**semantics.doc, name: cap}
    return attrs.evolve(semantics, doc=doc, has_max_tokens=has_max_tokens(doc))


def has_max_tokens(doc: dict[str, object]) -> bool:
    return doc.get("max_tokens") is not None


def _nano_per_token(*rates: Decimal | None) -> int | None:
    """The dearest of ``rates`` (USD per million tokens) in nano-dollars per token, rounded up."""
    known = [rate for rate in rates if rate is not None]
    if not known:
        return None
    return math.ceil(max(known) * 1000)


def token_rates(price: Price) -> tuple[int, int] | None:
    """Worst-case nano-dollars per input token and per output token; None if unknown."""
    per_input = _nano_per_token(price.input, price.cache_write)
    per_output = _nano_per_token(price.output, price.reasoning_output)
    if per_input is None or per_output is None:
        return None
    return per_input, per_output


def usage_cost(usage: Usage, price: Price) -> int | None:
    """What ``usage`` cost, in nano-dollars rounded up (as the usage row prices it)."""
    total = compute_cost(usage, price).total
    return None if total is None else math.ceil(total * 10**9)
