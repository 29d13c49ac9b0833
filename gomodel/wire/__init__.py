"""Bytes on the wire: pure, sans-IO codecs (no trio, httpx or hypercorn)."""
