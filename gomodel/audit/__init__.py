"""The audit log: one entry per model request (docs/observability.md, "Audit log").

Pure: :mod:`~gomodel.audit.redact`, :mod:`~gomodel.audit.reassemble`,
:mod:`~gomodel.audit.entry`, :mod:`~gomodel.audit.query`. I/O shell:
:mod:`~gomodel.audit.observer` (the pipeline watcher), :mod:`~gomodel.audit.writer` (the
background task); the table is :mod:`gomodel.storage.audit`.
"""
