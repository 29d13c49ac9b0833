"""``nox -s bench`` (``python -m tests.bench``): gomodel against a C mock provider, measured.

Throughput and latency with wrk, time to first byte with curl, memory per worker from /proc,
start-up time and client-close-to-provider-close latency, against three baselines: the mock
directly (the physical limit), a hello-world app under the same hypercorn (the server floor) and,
with ``--with-litellm``, LiteLLM's proxy (a peer). Prints a markdown report and writes it and a
JSON file of every figure. Measures, never asserts: see docs/benchmarks.md.
"""
