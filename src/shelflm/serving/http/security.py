"""API-key checks of the HTTP layer (header X-API-Key, compared in constant time)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"
NO_KEY = (f"header {API_KEY_HEADER}: this server has no API key configured, so writes and admin "
          "routes are closed; start it with --api-key KEY (or SHELFLM_API_KEY=KEY), or with "
          "--open (open_writes) when it listens on loopback only")


_SCHEME = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                       description="An API key the server was started with (--api-key).")


def key_is_valid(given: str | None, keys: list[str]) -> bool:
    """True when `given` equals one of `keys`; every key is compared, in constant time."""
    if given is None:
        return False
    given_b = given.encode()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given_b, key.encode())
    return ok


def key_problem(given: str | None, keys: list[str]) -> tuple[int, str] | None:
    """(status, message) when `given` is not an accepted key (401 missing, 403 wrong)."""
    if given is None:
        return 401, f"header {API_KEY_HEADER}: missing API key"
    if not key_is_valid(given, keys):
        return 403, f"header {API_KEY_HEADER}: wrong API key"
    return None


def key_dependency(keys: list[str], required: bool, open_without_keys: bool = True):
    """A dependency that rejects requests without a valid key (401 missing, 403 wrong); with
    no keys configured it lets every request through if `open_without_keys`, else none (403:
    writes are closed by default)."""

    # A security scheme, not a plain header: the OpenAPI then says which routes need the
    # key and clients' generators send it. async: a sync dependency would cost every
    # request a hop to the thread pool.
    async def check(x_api_key: str | None = Security(_SCHEME)) -> None:
        if not required:
            return
        if not keys:
            if open_without_keys:
                return
            raise HTTPException(403, NO_KEY)
        problem = key_problem(x_api_key, keys)
        if problem is not None:
            raise HTTPException(*problem)

    return check
