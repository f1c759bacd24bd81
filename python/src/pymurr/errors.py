"""Errors, the same classes as the PyPI ``murr`` 0.3.1 client (``murr.client.errors``).

Every mode raises them: embedded calls map the engine's ``MURR_E*`` code to the HTTP status
the server answers for it (``src/server/handlers.c``), HTTP answers carry the status, and
Flight calls map the gRPC status back. ``code`` holds the engine's code name (``"ENOTFOUND"``)
when it is known (embedded mode), else ``None``.
"""
from __future__ import annotations

from typing import Optional


class MurrError(Exception):
    """Base class of every murr error; ``status_code`` is the HTTP status of the error."""

    def __init__(self, status_code: int, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code


class TableNotFoundError(MurrError):
    """The table (or the version of a rollback) does not exist."""


class TableAlreadyExistsError(MurrError):
    """A table with this name already exists (or the request conflicts with its state)."""


class InvalidRequestError(MurrError):
    """The request was refused: bad schema, wrong key types, unknown column."""


class ServerError(MurrError):
    """murr failed to process the request."""


class AuthenticationError(InvalidRequestError):
    """No token, or one the server does not know (HTTP 401, Flight UNAUTHENTICATED). Not in
    the PyPI 0.3.1 client, which raises ``InvalidRequestError`` for a 401: this is a subclass
    of it, so code written against that client keeps catching it."""


class PermissionDeniedError(InvalidRequestError):
    """The token is known but lacks the scope the call needs (HTTP 403, Flight
    PERMISSION_DENIED); a subclass of ``InvalidRequestError`` for the same reason."""


# engine status code -> (name, HTTP status), as the server maps them
_STATUS = {
    1: ("EINVAL", 400), 2: ("ENOTFOUND", 404), 3: ("EEXIST", 409), 4: ("ETOOBIG", 413),
    5: ("EUNSUPPORTED", 400), 6: ("ECORRUPT", 400), 7: ("EAGAIN", 500), 8: ("ENOMEM", 507),
    9: ("EIO", 500), 10: ("EINTERNAL", 500), 11: ("ESHAPE", 422), 12: ("ESYNTAX", 400),
    13: ("EMEDIA", 415), 14: ("EBUSY", 503), 15: ("ENOSPC", 507), 16: ("ECONFLICT", 409),
}


def error_for_status(status: int, message: str, code: Optional[str] = None) -> MurrError:
    """The exception the PyPI client raises for an HTTP status (its ``raise_for_status``)."""
    if status == 404:
        return TableNotFoundError(status, message, code)
    if status == 409:
        return TableAlreadyExistsError(status, message, code)
    if status == 401:
        return AuthenticationError(status, message, code)
    if status == 403:
        return PermissionDeniedError(status, message, code)
    if status < 500:
        return InvalidRequestError(status, message, code)
    return ServerError(status, message, code)


def error_for_code(code: int, message: str) -> MurrError:
    """The exception for an engine status code (``enum murr_status``)."""
    name, status = _STATUS.get(code, ("E%d" % code, 500))
    return error_for_status(status, message, name)
