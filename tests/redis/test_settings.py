"""REDIS_URL as GOModel reads it: host, port, database, credentials, TLS; bad URLs name the
setting."""

from __future__ import annotations

import pytest

from gomodel.errors import ConfigError
from gomodel.redis import RedisSettings

URLS = [
    ("redis://localhost", ("localhost", 6379, 0, None, None, False), []),
    ("redis://10.0.0.5:6380/2", ("10.0.0.5", 6380, 2, None, None, False), [["SELECT", 2]]),
    ("redis://:s3cret@h:1", ("h", 1, 0, None, "s3cret", False), [["AUTH", "s3cret"]]),
    (
        "rediss://app:p%40ss%2F@cache.internal:6390/15",
        ("cache.internal", 6390, 15, "app", "p@ss/", True),
        [["AUTH", "app", "p@ss/"], ["SELECT", 15]],
    ),
    ("redis://[::1]:7000", ("::1", 7000, 0, None, None, False), []),
    ("redis://h/", ("h", 6379, 0, None, None, False), []),
]


@pytest.mark.parametrize(("url", "expected", "handshake"), URLS)
def test_from_url(url: str, expected: tuple[object, ...], handshake: list[list[object]]) -> None:
    """Each URL gives its server, credentials and the AUTH/SELECT sent on connect."""
    s = RedisSettings.from_url(url)
    assert (s.host, s.port, s.db, s.username, s.password, s.tls) == expected
    assert s.handshake() == handshake


@pytest.mark.parametrize(
    "url", ["http://h", "redis://", "redis://h:port", "redis://h/x", "unix:///tmp/r.sock"]
)
def test_bad_url_is_a_config_error(url: str) -> None:
    """A URL that names no usable server is a ConfigError for REDIS_URL."""
    with pytest.raises(ConfigError) as info:
        RedisSettings.from_url(url)
    assert info.value.setting == "REDIS_URL"


def test_timeout_must_be_positive_and_password_is_not_printed() -> None:
    """A zero timeout is refused; the settings' repr hides the password."""
    with pytest.raises(ConfigError):
        RedisSettings.from_url("redis://h", timeout=0)
    assert "s3cret" not in repr(RedisSettings.from_url("redis://:s3cret@h"))
