"""Password hashing (scrypt), session tokens, login rate limiting, masking of phone and ID-card numbers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections import defaultdict, deque

SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 2**15, 8, 1, 32   # 32 MiB of memory per hash
MIN_PASSWORD = 10


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def hash_password(password: str) -> str:
    """A salted scrypt hash of a password."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DKLEN,
                         maxmem=128 * 1024 * 1024)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when the password matches the stored scrypt hash (constant-time comparison)."""
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want), maxmem=128 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


DUMMY_HASH = None  # computed lazily: unknown users cost as much time as known ones


def dummy_verify(password: str) -> None:
    """Spend the time of one verification, so an unknown user name answers as slowly as a wrong password."""
    global DUMMY_HASH
    if DUMMY_HASH is None:
        DUMMY_HASH = hash_password("not-a-real-password")
    verify_password(password, DUMMY_HASH)


def new_token() -> str:
    """A random session token for the cookie."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The hash a session token is stored under (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


class RateLimiter:
    """At most `limit` failed logins per key (client address, user name) in `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 600.0, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        q = self._fails[key]
        now = self.clock()
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> int:
        """Seconds until a blocked key may try again; 0 when none of the keys is blocked."""
        wait = 0.0
        for k in keys:
            q = self._recent(k)
            if len(q) >= self.limit:
                wait = max(wait, self.window - (self.clock() - q[0]))
        return int(wait) + 1 if wait else 0

    def fail(self, *keys: str) -> None:
        """Count a failed login for each key."""
        for k in keys:
            self._recent(k).append(self.clock())

    def reset(self, *keys: str) -> None:
        """Forget the failures of each key (after a successful login)."""
        for k in keys:
            self._fails.pop(k, None)


# ID-card numbers (18 digits, last may be X; or the old 15 digits), then mobile and landline numbers.
ID18 = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
ID15 = re.compile(r"(?<!\d)(\d{6})\d{6}(\d{3})(?!\d)")
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{3,4})(\d{4})(?!\d)")


def mask(text: str) -> str:
    """Phone and ID-card numbers with their middle digits starred (what an operator sees until revealing)."""
    if not text:
        return text
    text = ID18.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    text = ID15.sub(lambda m: m.group(1) + "*" * 6 + m.group(2), text)
    text = MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = LANDLINE.sub(lambda m: f"{m.group(1)}-{'*' * len(m.group(2))}{m.group(3)}", text)
    return text


def has_personal_numbers(text: str) -> bool:
    """True when the text holds a phone or ID-card number (what mask hides)."""
    return mask(text) != text
