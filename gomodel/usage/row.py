"""The stored usage row: one per request that reached a provider (SPEC §7.1).

:func:`row_from_record` turns a handler's :class:`UsageRecord` into a :class:`UsageRow`: it
prices the counts, puts them in OpenAI's semantics, and makes every value storable. JSON lines
(:func:`to_json_line`, :func:`from_json_line`) carry rows losslessly through the spill file.

Counts in a row follow OpenAI's semantics, whatever the provider reported: cached and
cache-write tokens are included in ``input_tokens``, reasoning tokens in ``output_tokens``. A
:class:`~gomodel.usage.extract.Usage` already means that from the moment it is built (each
dialect's extraction normalises), so the row takes the counts as they are, whatever the route.
``raw_usage`` keeps the provider's own usage object as it came.

Costs are USD rounded (half-even) to the nano-dollar, the unit storage keeps them in; ``None``
means unknown, never zero.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs
import cattrs.preconf.orjson
import orjson

from gomodel.usage.extract import Usage
from gomodel.usage.pricing import Cost, PriceTable, compute_cost
from gomodel.usage.record import UsageRecord

__all__ = [
    "NANO",
    "UsageRow",
    "from_json_line",
    "price_record",
    "row_from_record",
    "to_json_line",
]

NANO = Decimal("1e-9")  # costs are kept to the nano-dollar
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@attrs.frozen(kw_only=True)
class UsageRow:
    id: str  # UUID, canonical lowercase form
    timestamp: datetime  # aware, UTC: when the request ended
    request_id: str
    provider: str  # configured provider name
    provider_type: str
    requested_model: str
    model: str  # the model the upstream reported, else the one it was asked for
    endpoint: str
    route: str  # passthrough | rewrite | translate
    stream: bool
    user_path: str = "/"
    status: int
    termination: str
    complete: bool  # the provider reported its counts (False: the request ended first)
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    input_cost: Decimal | None = None
    output_cost: Decimal | None = None
    total_cost: Decimal | None = None
    cost_caveat: str = ""
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    overhead_ms: float | None = None
    provider_id: str | None = None
    raw_usage: Mapping[str, Any] = attrs.field(factory=dict)
    client: str | None = None  # the client's address (X-Forwarded-For past trusted proxies)
    key_id: str | None = None  # the managed key the request presented


def _text(value: str) -> str:
    """Storable text: no NUL (PostgreSQL refuses it), no lone surrogates (UTF-8 refuses them)."""
    if value.isascii() and "\x00" not in value:
        return value  # nearly every value: no copy (a row has a dozen; docs/benchmarks.md)
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _row_id(row_id: str) -> str:
    """The canonical lowercase form of a UUID (raises ValueError on anything else)."""
    if _CANONICAL_UUID.fullmatch(row_id):
        return row_id  # the recorder's str(uuid4()): already canonical
    return str(uuid.UUID(row_id))


def _plain_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A detached, JSON-serialisable copy of the provider's usage object."""
    try:
        value = orjson.loads(orjson.dumps(raw, default=str, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _nano(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(NANO, rounding=ROUND_HALF_EVEN)


def price_record(record: UsageRecord, prices: PriceTable) -> Cost:
    """What ``record``'s usage costs: the upstream's model priced, else the requested one."""
    usage = record.usage
    if usage is None:
        return Cost(None, None, None, "no usage reported")
    price = prices.lookup(record.provider_type, record.model)
    if price is None and record.requested_model != record.model:
        price = prices.lookup(record.provider_type, record.requested_model)
    return compute_cost(usage, price)


def row_from_record(
    record: UsageRecord,
    *,
    prices: PriceTable,
    now: datetime,
    row_id: str,
    latency_ms: float | None = None,
    ttfb_ms: float | None = None,
    overhead_ms: float | None = None,
    user_path: str = "/",
) -> UsageRow:
    """The row to store for ``record``, priced from ``prices`` (``now`` must be aware)."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    usage = record.usage
    counts = Usage() if usage is None else usage
    cost = price_record(record, prices)
    caveats = set(filter(None, cost.caveat.split("; ")))
    if usage is not None and not record.complete:
        caveats.add("incomplete counts: the request ended before the provider reported usage")
    return UsageRow(
        id=_row_id(row_id),
        timestamp=now.astimezone(UTC),
        request_id=_text(record.request_id),
        provider=_text(record.provider),
        provider_type=_text(record.provider_type),
        requested_model=_text(record.requested_model),
        model=_text(record.model),
        endpoint=_text(record.endpoint),
        route=_text(record.route),
        stream=record.stream,
        user_path=_text(user_path) or "/",
        status=record.status,
        termination=record.termination.value,
        complete=record.complete,
        input_tokens=counts.input_tokens,
        output_tokens=counts.output_tokens,
        total_tokens=counts.total_tokens,
        cached_tokens=counts.cached_tokens,
        cache_write_tokens=counts.cache_write_tokens,
        reasoning_tokens=counts.reasoning_tokens,
        input_cost=_nano(cost.input),
        output_cost=_nano(cost.output),
        total_cost=_nano(cost.total),
        cost_caveat="; ".join(sorted(caveats)),
        latency_ms=latency_ms,
        ttfb_ms=ttfb_ms,
        overhead_ms=overhead_ms,
        provider_id=None if record.provider_id is None else _text(record.provider_id),
        raw_usage=_plain_json(counts.raw),
        client=None if record.client is None else _text(record.client),
        key_id=record.key_id,
    )


def _make_converter() -> cattrs.preconf.orjson.OrjsonConverter:
    converter = cattrs.preconf.orjson.make_converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(value))
    return converter


_converter = _make_converter()


def to_json_line(row: UsageRow) -> bytes:
    """One JSON line (ending in ``\\n``) holding ``row`` exactly."""
    return _converter.dumps(row) + b"\n"


def from_json_line(line: bytes) -> UsageRow:
    """The row a :func:`to_json_line` line holds. Raises on a damaged line."""
    return _converter.loads(line.strip(), UsageRow)
