"""Managed API keys (SPEC §9): ``sk_gom_`` tokens an admin issues, scoped by user path and an
allow-list of models, deactivated at will.

The pure core (no trio, httpx or hypercorn), re-exported here:

* :mod:`~gomodel.keys.secret`: making a token, its stored hash, its redacted form;
* :mod:`~gomodel.keys.record`: :class:`AuthKey`, its state and its admin view;
* :mod:`~gomodel.keys.models`: the allow-list rule and the 403;
* :mod:`~gomodel.keys.admin_input`: what the admin API accepts.

The I/O side is :mod:`gomodel.keys.cache` (the in-memory lookup the request path uses, kept
fresh from storage by a background task) and :mod:`gomodel.storage.keys` (the table). See
docs/keys.md.
"""

from __future__ import annotations

from gomodel.keys.models import check_model, model_allowed, normalize_model_selector
from gomodel.keys.record import AuthKey, KeyState
from gomodel.keys.secret import PREFIX, IssuedSecret, hash_token, redact

__all__ = [
    "PREFIX",
    "AuthKey",
    "IssuedSecret",
    "KeyState",
    "check_model",
    "hash_token",
    "model_allowed",
    "normalize_model_selector",
    "redact",
]
