"""The bot's Rasa messages as one WeChat text: the texts, cards the texts do not already show, numbered options.

WeChat text has no buttons or cards: a button becomes "回复 1：…", answered by the digit alone; a service point
the text does not name becomes one compact line (name, 示例数据 or 规划建设中, address, phone, distance, 估算 when
the coordinates are a district's centre).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 2048  # WeChat's limit for a text message (passive reply and customer-service API alike)
DEMO_LABEL = "（示例数据）"
PLANNED_LABEL = "（规划建设中，未确认开放）"
OPTIONS_HEAD = "请回复数字选择："
FALLBACK = "抱歉，我暂时没能回答这个问题。您可以换个说法，或拨打12345政务服务便民热线咨询。"
_DIGITS = re.compile(r"^\s*(\d{1,2})\s*[。.！!]?\s*$")


@dataclass
class Rendered:
    """One WeChat text and the buttons its numbers stand for."""

    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


def render(messages: list[dict[str, Any]]) -> Rendered:
    """The bot's messages of a turn as one WeChat text: texts, cards not already named, numbered options."""
    texts, buttons, custom = [], [], None
    for m in messages:
        if m.get("text"):
            texts.append(str(m["text"]))
        if m.get("image"):
            texts.append(str(m["image"]))
        for b in m.get("buttons") or []:
            if isinstance(b, dict) and b.get("title"):
                buttons.append({"title": str(b["title"]), "payload": str(b.get("payload") or b["title"])})
        if isinstance(m.get("custom"), dict) and custom is None:
            custom = m["custom"]
    if not buttons and custom:
        buttons = [{"title": str(b["title"]), "payload": str(b.get("payload") or b["title"])}
                   for b in custom.get("buttons") or [] if isinstance(b, dict) and b.get("title")]
    body = "\n".join(texts)
    cards = [line for item in (custom or {}).get("items") or []
             if isinstance(item, dict) and (line := card(item)) and str(item.get("name") or "") not in body]
    sections = [s for s in (body, "\n".join(cards), options(buttons)) if s]
    return Rendered("\n\n".join(sections) if sections else FALLBACK, buttons)


def card(item: dict[str, Any]) -> str:
    """One service point in one line: name (labelled 示例数据 when unverified), address, phone, distance."""
    name = str(item.get("name") or "").strip()
    if not name:
        return ""
    label = PLANNED_LABEL if item.get("status") == "planned" else "" if item.get("verified") else DEMO_LABEL
    head = "· " + name + label
    parts = [str(item[k]).strip() for k in ("address", "phone") if item.get(k)]
    distance = item.get("distance_km")
    if isinstance(distance, int | float):
        note = "（估算）" if item.get("approximate") else "（示例坐标）" if label == DEMO_LABEL else ""
        parts.append(f"约{distance:.1f}公里{note}")
    return "｜".join([head, *parts])


def options(buttons: list[dict[str, str]]) -> str:
    """The numbered options of the buttons ("回复 1：…")."""
    if not buttons:
        return ""
    return "\n".join([OPTIONS_HEAD, *(f"回复 {n}：{b['title']}" for n, b in enumerate(buttons, 1))])


def choice(text: str, buttons: list[dict[str, str]]) -> str | None:
    """The payload of the button a reply like "2" (or "２", "2。") picks, else None."""
    if not buttons or not text:
        return None
    m = _DIGITS.match(unicodedata.normalize("NFKC", text))
    if not m:
        return None
    n = int(m.group(1))
    return buttons[n - 1]["payload"] if 1 <= n <= len(buttons) else None


def split(text: str, limit: int = MAX_BYTES) -> list[str]:
    """Parts of at most `limit` UTF-8 bytes, cut at line ends where possible (the newline there is dropped)."""
    if len(text.encode("utf-8")) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode("utf-8")) > limit:  # a single line too long: cut at a character boundary
            cut = line.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
            parts.append(cut)
            line = line[len(cut):]
        current = line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]
