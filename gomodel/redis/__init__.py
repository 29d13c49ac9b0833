"""A Redis client for trio (RESP2 on one multiplexed connection); see ``client.py``."""

from gomodel.errors import RedisError, RedisProtocolError, RedisReplyError, RedisUnavailable
from gomodel.redis.client import RedisClient, RedisStatistics, open_redis
from gomodel.redis.resp import Encoded, Reply
from gomodel.redis.script import Script
from gomodel.redis.settings import DEFAULT_TIMEOUT, RedisSettings

__all__ = [
    "DEFAULT_TIMEOUT",
    "Encoded",
    "RedisClient",
    "RedisError",
    "RedisProtocolError",
    "RedisReplyError",
    "RedisSettings",
    "RedisStatistics",
    "RedisUnavailable",
    "Reply",
    "Script",
    "open_redis",
]
