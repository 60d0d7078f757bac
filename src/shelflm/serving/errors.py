"""The one error a request can meet, raised by the engine and by the HTTP layer alike."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["invalid", "not_found", "too_large"]


class RequestError(ValueError):
    """A request refused for one input: `field` names it, `message` says what is wrong.

    `kind` says why without HTTP words: "invalid" (a bad value, or an unknown id inside the
    request), "not_found" (the one thing the request is about does not exist), "too_large"
    (more than a limit allows). The HTTP layer maps kinds to statuses (422, 404, 413).
    """

    def __init__(self, field: str, message: str, kind: ErrorKind = "invalid") -> None:
        self.field, self.message, self.kind = field, message, kind
        super().__init__(f"{field}: {message}")

    @classmethod
    def unknown_id(cls, field: str, item_id: str, kind: ErrorKind = "invalid") -> RequestError:
        """An item id the catalog does not hold."""
        return cls(field, f"unknown item id {item_id!r}", kind)
