"""WeChat signatures and the safe-mode message cipher (AES-256-CBC, PKCS#7 to 32-byte blocks).

Framing of a plaintext: 16 random bytes, 4-byte big-endian length of the message, the message, the AppID.
The key is base64(EncodingAESKey + "="), the IV its first 16 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
_RANDOM_ALPHABET = string.ascii_letters + string.digits


class CryptoError(ValueError):
    """The Encrypt field is not a well-formed ciphertext of this key."""


class AppIdMismatch(CryptoError):
    """The message decrypted, but it was sealed for another AppID."""


def signature(*parts: str) -> str:
    """sha1 of the sorted parts concatenated: WeChat's `signature` and `msg_signature`."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(given: str | None, *parts: str) -> bool:
    """Constant-time comparison of a received signature with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(signature(*parts).encode("ascii"), given.strip().lower().encode("utf-8"))


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block or n > len(data) or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


class MessageCipher:
    def __init__(self, key: bytes, appid: str) -> None:
        if len(key) != 32:
            raise ValueError("the AES key must be 32 bytes")
        self._key = key
        self._iv = key[:16]
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, message: bytes) -> str:
        head = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16)).encode("ascii")
        plain = pkcs7_pad(head + len(message).to_bytes(4, "big") + message + self.appid.encode("utf-8"))
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        content = pkcs7_unpad(dec.update(raw) + dec.finalize())[16:]
        if len(content) < 4:
            raise CryptoError("too short")
        size = int.from_bytes(content[:4], "big")
        if size > len(content) - 4:
            raise CryptoError("length field beyond the plaintext")
        message, appid = content[4:4 + size], content[4 + size:]
        if not hmac.compare_digest(appid, self.appid.encode("utf-8")):
            raise AppIdMismatch("AppID does not match")
        return message
