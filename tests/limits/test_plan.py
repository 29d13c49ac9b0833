"""The limit arithmetic as tables: which counters a demand asks what of, when it is admitted,
how far the output cap is lowered, and what a refusal tells the client (Retry-After and
OpenAI's x-ratelimit-* headers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gomodel.limits import Demand, Limit, Metric, Period, rate_limit_headers
from gomodel.limits.headers import format_reset
from gomodel.limits.plan import admission, decide, plan

NOW = datetime(2025, 3, 10, 12, 0, 45, tzinfo=UTC)  # 15 s before the minute ends

RPM = Limit("key:a", Metric.REQUESTS, 60, Period.MINUTE)
TPM = Limit("key:a", Metric.TOKENS, 10_000, Period.MINUTE)
SLOTS = Limit("key:a", Metric.CONCURRENT, 2)
BUDGET = Limit("path:/team-a", Metric.COST, 1_000_000, Period.DAY)  # 0.001 USD

DEMAND = Demand(
    input_tokens=1000,
    max_output_tokens=4000,
    min_output_tokens=100,
    input_cost=100_000,
    output_token_cost=200,
)


def test_plan_asks_each_metric_for_its_share() -> None:
    """Requests count one now; tokens hold input + output; a slot holds one; a budget holds
    input cost + output x price, and is seeded when the store has a seed source."""
    asks = plan([RPM, TPM, SLOTS, BUDGET], DEMAND, NOW, seeded_costs=True)
    assert [(a.fixed, a.per_unit, a.hold, a.seeded) for a in asks] == [
        (1, 0, False, False),
        (1000, 1, True, False),
        (1, 0, True, False),
        (100_000, 200, True, True),
    ]
    assert asks[0].counter == "requests/minute/1741608000000/key:a"
    assert asks[2].counter == "concurrent/-/0/key:a"
    with pytest.raises(ValueError, match="twice"):
        plan([RPM, RPM], DEMAND, NOW, seeded_costs=False)


def test_plan_follows_windows_as_they_roll_over() -> None:
    """Asked again and again with the same limits (what plan keeps between calls), the asks
    name the window that holds ``now``: the last millisecond of a minute, then the next minute
    and day; and each demand's own amounts, never the previous one's."""
    limits = (RPM, TPM, SLOTS, BUDGET)
    last_ms = datetime(2025, 3, 10, 23, 59, 59, 999_000, tzinfo=UTC)
    next_day = datetime(2025, 3, 11, 0, 0, 0, tzinfo=UTC)
    before = plan(limits, DEMAND, last_ms, seeded_costs=False)
    assert before == plan(limits, DEMAND, last_ms, seeded_costs=False)
    small = Demand(input_tokens=7, max_output_tokens=9, input_cost=70, output_token_cost=3)
    after = plan(limits, small, next_day, seeded_costs=False)
    assert [a.counter.split("/")[2] for a in before] == [
        "1741651140000",  # 23:59
        "1741651140000",
        "0",
        "1741564800000",  # 2025-03-10
    ]
    assert [a.counter.split("/")[2] for a in after] == [
        "1741651200000",  # 00:00 the next day
        "1741651200000",
        "0",
        "1741651200000",
    ]
    assert after[1].window_end == datetime(2025, 3, 11, 0, 1, tzinfo=UTC)
    assert after[3].window_end == datetime(2025, 3, 12, tzinfo=UTC)
    assert [(a.fixed, a.per_unit) for a in after] == [(1, 0), (7, 1), (1, 0), (70, 3)]
    # back in the old window (a replica whose clock lags): the old counters again
    assert plan(limits, small, last_ms, seeded_costs=False)[0].counter == before[0].counter
    assert plan(limits, small, next_day, seeded_costs=True)[3].seeded


# (used, held) per counter RPM, TPM, SLOTS, BUDGET -> admitted, output cap, refused indexes
DECISIONS = [
    ([(0, 0), (0, 0), (0, 0), (0, 0)], True, 4000, ()),
    # the budget has 1_000_000 - 100_000 = 900_000 for output: 4500 tokens; TPM allows 9000
    ([(59, 0), (0, 0), (1, 0), (0, 0)], True, 4000, ()),
    ([(60, 0), (0, 0), (0, 0), (0, 0)], False, 4000, (0,)),
    ([(0, 0), (3000, 2000), (0, 0), (0, 0)], True, 4000, ()),
    # TPM: 10_000 - 7000 - 1000 input = 2000 output tokens left: the cap is lowered to 2000
    ([(0, 0), (5000, 2000), (0, 0), (0, 0)], True, 2000, ()),
    # the budget lowers the cap: 1_000_000 - 800_000 - 100_000 = 100_000 / 200 = 500 tokens
    ([(0, 0), (0, 0), (0, 0), (500_000, 300_000)], True, 500, ()),
    # 119 tokens' worth left is more than the 100 minimum
    ([(0, 0), (0, 0), (0, 0), (876_200, 0)], True, 119, ()),
    # below the minimum output: refused, and the answer says what would fit now (99)
    ([(0, 0), (0, 0), (0, 0), (880_200, 0)], False, 99, (3,)),
    # both slots taken and the budget overspent: both refuse, and the cap that fits is 0
    ([(0, 0), (0, 0), (0, 2), (1_200_000, 0)], False, 0, (2, 3)),
]


@pytest.mark.parametrize(("states", "admitted", "output", "refused"), DECISIONS)
def test_decide(
    states: list[tuple[int, int]], admitted: bool, output: int, refused: tuple[int, ...]
) -> None:
    """Admitted iff every counter has room at the minimum cap; the cap is the largest that
    every counter has room for."""
    asks = plan([RPM, TPM, SLOTS, BUDGET], DEMAND, NOW, seeded_costs=False)
    decision = decide(asks, states, DEMAND)
    assert (decision.admitted, decision.output, decision.refused) == (admitted, output, refused)


def test_admission_reports_counters_after_reserving() -> None:
    """Admitted: every counter shows this request's amounts; the headers carry the tightest
    requests and tokens counters with the time to their reset."""
    asks = plan([RPM, TPM, SLOTS, BUDGET], DEMAND, NOW, seeded_costs=False)
    states = [(10, 0), (3000, 2000), (0, 1), (0, 0)]
    answer = admission(asks, states, decide(asks, states, DEMAND), DEMAND, NOW, None)
    assert answer.admitted and answer.output_tokens == 4000
    assert [(c.used, c.held, c.remaining) for c in answer.counters] == [
        (11, 0, 49),
        (3000, 7000, 0),
        (0, 2, 0),
        (0, 900_000, 100_000),
    ]
    assert rate_limit_headers(answer) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "49",
        "x-ratelimit-reset-requests": "15s",
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "15s",
    }


def test_refusal_tells_when_to_retry() -> None:
    """A full minute window: Retry-After is the time to its end, remaining is 0."""
    asks = plan([RPM, TPM], DEMAND, NOW, seeded_costs=False)
    states = [(60, 0), (0, 0)]
    answer = admission(asks, states, decide(asks, states, DEMAND), DEMAND, NOW, None)
    assert not answer.admitted and answer.retry_after == 15.0
    headers = rate_limit_headers(answer)
    assert headers["retry-after"] == "15"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-remaining-tokens"] == "10000"


@pytest.mark.parametrize(
    ("limits", "states", "retry_after"),
    [
        # the latest reset of the refusing counters: a day window outlasts the minute
        ([RPM, BUDGET], [(60, 0), (1_000_000, 0)], 11 * 3600 + 59 * 60 + 15),
        # a full concurrency limit has no reset: the client is told to come back in a second
        ([SLOTS], [(0, 2)], 1.0),
        # more than the limit could ever hold: no Retry-After at all
        ([Limit("key:a", Metric.TOKENS, 500, Period.MINUTE)], [(0, 0)], None),
    ],
)
def test_retry_after(
    limits: list[Limit], states: list[tuple[int, int]], retry_after: float | None
) -> None:
    """Retry-After is when every refusing counter has room again, if waiting can help."""
    asks = plan(limits, DEMAND, NOW, seeded_costs=False)
    answer = admission(asks, states, decide(asks, states, DEMAND), DEMAND, NOW, None)
    assert not answer.admitted and answer.retry_after == retry_after
    assert ("retry-after" in rate_limit_headers(answer)) == (retry_after is not None)


def test_tightest_counter_of_a_metric_goes_in_the_headers() -> None:
    """Of a key's and a provider's request limits, the one with less left is reported."""
    per_hour = Limit("provider:openai", Metric.REQUESTS, 1000, Period.HOUR)
    asks = plan([RPM, per_hour], Demand(), NOW, seeded_costs=False)
    states = [(10, 0), (995, 0)]
    answer = admission(asks, states, decide(asks, states, Demand()), Demand(), NOW, None)
    headers = rate_limit_headers(answer)
    assert headers["x-ratelimit-limit-requests"] == "1000"
    assert headers["x-ratelimit-remaining-requests"] == "4"
    assert headers["x-ratelimit-reset-requests"] == "59m15s"
    assert "x-ratelimit-limit-tokens" not in headers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0ms"),
        (0.0171, "18ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.9995, "1m0s"),
        (360, "6m0s"),
        (3723.25, "1h2m3.25s"),
        (86400, "24h0m0s"),
        (61.0004, "1m1.001s"),
    ],
)
def test_format_reset(seconds: float, text: str) -> None:
    """Durations read as in OpenAI's headers, rounded up to the millisecond."""
    assert format_reset(seconds) == text


def test_reset_header_rounds_the_exact_difference_up() -> None:
    """x-ratelimit-reset is the time to the window's end in whole milliseconds, rounded up, so
    that a client waiting that long finds the counter reset."""
    at = datetime(2025, 3, 10, 12, 0, 44, 999_001, tzinfo=UTC)  # 15.000999 s before the end
    asks = plan([RPM], Demand(), at, seeded_costs=False)
    states = [(1, 0)]
    answer = admission(asks, states, decide(asks, states, Demand()), Demand(), at, None)
    assert rate_limit_headers(answer)["x-ratelimit-reset-requests"] == "15.001s"
    at = datetime(2025, 3, 10, 12, 0, 59, 999_999, tzinfo=UTC)
    answer = admission(asks, states, decide(asks, states, Demand()), Demand(), at, None)
    assert rate_limit_headers(answer)["x-ratelimit-reset-requests"] == "1ms"


def test_demand_and_limit_validation() -> None:
    """Amounts stay in range, a concurrency limit has no period, the minimum cap <= maximum."""
    with pytest.raises(ValueError):
        Limit("key:a", Metric.CONCURRENT, 2, Period.MINUTE)
    with pytest.raises(ValueError):
        Limit("key:a", Metric.REQUESTS, 2)
    with pytest.raises(ValueError):
        Limit("key:a", Metric.COST, 2**51, Period.DAY)
    with pytest.raises(ValueError):
        Demand(max_output_tokens=10, min_output_tokens=11)
