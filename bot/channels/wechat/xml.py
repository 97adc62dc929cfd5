"""Reading WeChat's XML safely (defusedxml: no DTD, no entities) and writing passive replies."""

from __future__ import annotations

import re
import time

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

# Characters XML 1.0 cannot carry at all (a CDATA section cannot either).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XMLRejected(ValueError):
    """The body is not a flat <xml> document we accept."""


def parse(body: bytes) -> dict[str, str]:
    """The children of WeChat's <xml> root as {tag: text}; nested elements are ignored."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise XMLRejected(type(exc).__name__) from exc
    if root.tag != "xml":
        raise XMLRejected("root is not <xml>")
    return {child.tag: (child.text or "") for child in root if len(child) == 0}


def cdata(text: str) -> str:
    """A CDATA section holding `text` exactly; "]]>" inside is split across two sections."""
    text = _INVALID_XML.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    return (f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{cdata(content)}</Content></xml>")


def encrypted_reply(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    return (f"<xml><Encrypt>{cdata(encrypt)}</Encrypt><MsgSignature>{cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")
