"""The soak (tests/bench/soak.py): about 45 s of streams through a real ``gomodel serve``, with a
share of clients leaving at random points and a share of provider faults; afterwards nothing is
left over and nothing is lost. RELIABILITY.md §8 row 24.

No assertion on speed: how many streams fit in the time depends on the machine (about 200 a
second on this one, two shared cores). The bounds on what is left are exact where they can be
(client connections, usage rows, the gateway's other files) and derived from measurements where
the allocator decides (RSS, below).
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.soak import run_soak

SECONDS = 45.0
CONCURRENCY = 32
# RSS after the soak against RSS after a warm-up at the same load. Measured here: +5 to +8 MB
# over 45 s (about 10 000 streams), growing ever more slowly (+12.7 MB over 120 s and 27 000
# streams) while the gateway's count of Python objects stays flat (a gc probe inside the
# process, sampled every 10 s: no type grows), and about half of it goes away with
# MALLOC_ARENA_MAX=1: allocator fragmentation, not a leak. A leak of 2.5 KB per stream (a
# request's relay or usage record kept) would exceed this.
RSS_GROWTH_MB = 25.0


def test_soak_leaves_nothing_behind_and_loses_no_row(tmp_path: Path) -> None:
    result = run_soak(SECONDS, tmp_path, concurrency=CONCURRENCY)
    print(
        f"\n[measured] soak: {result.soak_streams} streams in {result.seconds:.0f} s "
        f"({result.streams_per_second:.0f}/s; {result.streams} with the warm-up), "
        f"c={result.concurrency}; outcomes "
        f"{result.outcomes}; faults {result.faults}; provider requests "
        f"{result.upstream_requests}, usage rows {result.usage_rows}; fds {result.fds_start} -> "
        f"{result.fds_end}; RSS {result.rss_start_mb:.1f} -> {result.rss_end_mb:.1f} MB "
        f"(peak {result.rss_peak_mb:.1f})"
    )
    assert result.streams > 0
    # Every client that stayed got what its fault gives: [DONE], an error event, or a 5xx.
    assert result.unexpected == []
    assert result.outcomes.get("left", 0) > 0 and result.outcomes.get("error event", 0) > 0
    # Every request the provider received has exactly one usage row, under its request id; a
    # row without a provider request is one whose client left before it was sent.
    assert (result.rows_missing, result.rows_doubled, result.rows_unknown) == (0, 0, 0)
    assert result.upstream_requests <= result.usage_rows
    # Nothing left over: no client connection, provider connections only as idle pool
    # entries (at most one per concurrent request), no other file more than after the warm-up.
    assert result.fds_end["client"] == 0
    assert result.fds_end["provider"] <= CONCURRENCY + 1
    assert result.fds_end["other"] <= result.fds_start["other"] + 2
    assert result.rss_end_mb - result.rss_start_mb < RSS_GROWTH_MB
    # It still answers, it stops cleanly on SIGTERM, and it logged no error.
    assert result.answers_after
    assert result.exit_code == 0
    assert result.log_errors == []
