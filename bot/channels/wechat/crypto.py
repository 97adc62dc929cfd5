"""WeChat signatures and safe-mode messages. wechatpy does the work (WeChatSigner: sha1 of the sorted parts;
WeChatCrypto: AES-256-CBC framing with the AppID, PKCS#7 to 32 bytes, the msg_signature of replies); this module
compares received signatures in constant time (wechatpy compares with !=) and names the failures."""

from __future__ import annotations

import hmac
import struct

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner


class CryptoError(ValueError):
    """The Encrypt field is not a well-formed ciphertext of this key."""


class AppIdMismatch(CryptoError):
    """The message decrypted, but it was sealed for another AppID."""


def signature(*parts: str) -> str:
    """WeChat's `signature` and `msg_signature` of the parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def signature_ok(given: str | None, *parts: str) -> bool:
    """Constant-time comparison of a received signature with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(signature(*parts).encode("ascii"), given.strip().lower().encode("utf-8"))


class SafeMode:
    """Opening and sealing safe-mode messages of one account (token, EncodingAESKey, AppID)."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, encoding_aes_key, appid)

    def open(self, encrypted: str, msg_signature: str | None, timestamp: str, nonce: str) -> bytes:
        """The message inside `encrypted`, once its msg_signature is checked (constant time)."""
        if not signature_ok(msg_signature, self.token, timestamp, nonce, encrypted):
            raise InvalidSignatureException()
        try:
            # The signature is checked above: wechatpy is handed the one it expects.
            opened = self.crypto.decrypt_message({"Encrypt": encrypted},
                                                 signature(self.token, timestamp, nonce, encrypted), timestamp, nonce)
        except InvalidAppIdException as exc:
            raise AppIdMismatch("AppID does not match") from exc
        except (ValueError, TypeError, IndexError, struct.error) as exc:  # base64, block size, framing, UTF-8
            raise CryptoError(type(exc).__name__) from exc
        return opened.encode("utf-8")

    def seal(self, reply: str, timestamp: str, nonce: str) -> str:
        """The reply as WeChat expects it in safe mode: <xml> with Encrypt, MsgSignature, TimeStamp, Nonce."""
        return self.crypto.encrypt_message(reply, nonce, timestamp)
