"""Personal data never reaches a log: phone numbers, ID-card numbers, detailed addresses and WeChat OpenIDs are
masked in every log record of the process, at every level (Rasa's DEBUG logs print whole user messages and events).

    from bot import privacy; privacy.install()

`install()` wraps `logging.Logger.makeRecord`, the one place every record passes through (stdlib loggers, Rasa's
structlog, Sanic), whatever handlers exist now or are added later. Not the record factory: `extra` fields such as
Sanic's access-log request line (WeChat puts the OpenID in the query string) are set after the factory runs.
The message is formatted with its args, masked, and kept without args; tracebacks, stack info and string extras
are masked too. Phone and ID numbers are starred as in the console (bot/console/security.py: 138****5678,
420102********1234); the numbers of an address become `*` (解放大道*号, 幸福小区*栋*单元*); an OpenID becomes
`openid:` and the first 8 hex digits of its SHA-256, so the lines of one conversation still go together.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from bot.console.security import mask as mask_numbers

OPENID = re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])")

# Landlines the console's pattern leaves whole: area code in brackets or followed by a separator ("(027)8765-4321",
# "027-8765-4321"), and local numbers right after a phone word ("座机87654321"). All digits but the last 4 starred.
LANDLINE = re.compile(r"(?<!\d)(?:[(（]0\d{2,3}[)）]|0\d{2,3}[- ])\s*\d{3,4}[- ]?\d{4}(?!\d)"
                      r"|(?<=电话|座机|手机|号码|联系)[:：是为\s]*\d{3,4}[- ]?\d{4}(?!\d)")

# Detailed addresses: a house number after a road or village word ("解放大道123号"), or a building, unit or room
# ("3栋2单元501", "5号楼302室", "三栋二单元"), each followed by further numbers; "幸福小区3-2-501".
_NUM = r"(?:\d+|[零〇一二三四五六七八九十百千两]+)"
_START = r"(?:号楼|号院|栋|幢|座|单元|室|户)"
_MORE = r"(?:号楼|号院|号|栋|幢|座|单元|楼|层|室|户)"
ADDRESS = re.compile(rf"(?:(?<=[路街道巷弄里村组])\s*{_NUM}\s*号|{_NUM}\s*{_START})(?:[-－]?{_NUM}{_MORE}?)*"
                     rf"|(?<=[区园苑庭府村厦寓]){_NUM}(?:[-－]{_NUM}){{1,3}}(?!\d)")
NUMBER = re.compile(_NUM)

# structlog's JSON renderer (Rasa's output when not on a terminal) writes Chinese as \uXXXX escapes.
JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return chr(code) if code >= 0x80 and not 0xD800 <= code <= 0xDFFF else m.group(0)


def _last_four(m: re.Match[str]) -> str:
    chars = list(m.group(0))
    for i in [i for i, ch in enumerate(chars) if ch.isdigit()][:-4]:
        chars[i] = "*"
    return "".join(chars)


def openid_hash(openid: str) -> str:
    """A short hash that stands for an OpenID in logs."""
    return "openid:" + hashlib.sha256(openid.encode()).hexdigest()[:8]


def mask_text(text: str) -> str:
    """`text` with OpenIDs hashed and phone numbers, ID-card numbers and detailed addresses masked."""
    if "\\u" in text:
        text = JSON_ESCAPE.sub(_unescape, text)
    text = OPENID.sub(lambda m: openid_hash(m.group(0)), text)
    text = mask_numbers(text)
    text = LANDLINE.sub(_last_four, text)
    return ADDRESS.sub(lambda m: NUMBER.sub("*", m.group(0)), text)


_STANDARD = {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime"}
_TRACEBACKS = logging.Formatter()


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the record in place: message with its args, traceback, stack info and string extras."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: keep its parts, masked
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = mask_text(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    for key, value in vars(record).items():
        if key not in _STANDARD and isinstance(value, str):
            setattr(record, key, mask_text(value))
    return record


_make_record = logging.Logger.makeRecord


def _masked_make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:  # noqa: ANN401
    return mask_record(_make_record(self, *args, **kwargs))


def install() -> None:
    """Mask every log record this process creates from now on (idempotent)."""
    logging.Logger.makeRecord = _masked_make_record  # type: ignore[method-assign]  # the point: every logger
