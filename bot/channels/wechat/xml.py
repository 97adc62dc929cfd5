"""Reading WeChat's XML safely (defusedxml: no DTD, no entities) and writing passive replies (wechatpy's TextReply)."""

from __future__ import annotations

import re

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy.replies import TextReply

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


def _in_cdata(text: str) -> str:
    """`text` as wechatpy puts it inside <![CDATA[…]]>: characters XML cannot carry dropped, and "]]>" split across
    two sections (wechatpy writes values as they are)."""
    return _INVALID_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def text_reply(to_user: str, from_user: str, content: str) -> str:
    """A passive text reply as WeChat's XML (CDATA-safe)."""
    return TextReply(target=_in_cdata(to_user), source=_in_cdata(from_user), content=_in_cdata(content)).render()
