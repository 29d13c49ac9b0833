"""Observability: Prometheus metrics, the audit log's observer, OpenTelemetry traces.

See docs/observability.md. prometheus_client and the OpenTelemetry SDK are imported only when
their feature is turned on.
"""
