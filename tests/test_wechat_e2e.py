"""The WeChat channel inside the running bot (`rasa run` with credentials.yml, settings from the WECHAT_*
test values of conftest): a safe-mode message gets the answer the REST channel gives."""

from __future__ import annotations

import os
import time
import uuid

import requests
from test_wechat import Peer, parse_reply

from replies.contract import validate_turn


class WeChatUser:
    """One WeChat user whose messages reach the bot as WeChat's server would send them, in safe mode."""

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/webhooks/wechat/webhook"
        self.token = os.environ["WECHAT_TOKEN"]
        self.peer = Peer(self.token, os.environ["WECHAT_ENCODING_AES_KEY"], os.environ["WECHAT_APPID"])
        self.openid = "o" + uuid.uuid4().hex[:27]

    def send(self, kind: str, msg_id: str | None = None, rasa_url: str | None = None, **fields: str) -> str:
        """The passive reply to one message (msg_id: to send one again, as WeChat's retries do; rasa_url: another
        address than the one this user was made with)."""
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
        inner = (f"<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[{self.openid}]]>"
                 f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{body}"
                 f"<MsgId>{msg_id or uuid.uuid4().int % 10**19}</MsgId></xml>")
        encrypted = self.peer.encrypt(inner)
        url = f"{rasa_url}/webhooks/wechat/webhook" if rasa_url else self.url
        resp = requests.post(url, timeout=30, params={
            "signature": self.peer.sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": self.openid,
            "encrypt_type": "aes", "msg_signature": self.peer.sign(self.token, ts, nonce, encrypted)},
            data=f"<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>"
                 f"</Encrypt></xml>".encode())
        assert resp.status_code == 200 and resp.text != "success", (resp.status_code, resp.text[:200])
        reply = parse_reply(self.peer.open_reply(resp.text))
        assert reply.type == "text" and reply.target == self.openid
        return reply.content


def rest(rasa_url: str, sender: str, message: str) -> list[dict]:
    resp = requests.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=30)
    resp.raise_for_status()
    messages = resp.json()
    validate_turn(messages)  # what the WeChat channel renders: exactly one schema-valid custom per turn
    return messages


def test_safe_mode_answer_is_the_rest_answer(bot_url: str) -> None:
    rest(bot_url, f"warmup-{uuid.uuid4().hex[:8]}", "你好")  # first turns load lazily; WeChat's deadline is 4.5 s
    question = "江汉区有没有助餐点"
    messages = rest(bot_url, f"rest-{uuid.uuid4().hex[:8]}", question)
    rest_text = "\n".join(m["text"] for m in messages if m.get("text"))
    custom = next(m["custom"] for m in messages if "custom" in m)
    assert custom["items"] and not any(m.get("buttons") for m in messages)
    assert len(rest_text.encode()) <= 2048, "pick a question whose answer fits one WeChat message"

    wechat_text = WeChatUser(bot_url).send("text", Content=question)
    assert wechat_text == rest_text
    for item in custom["items"]:
        assert item["name"] in wechat_text
    assert "示例数据" in wechat_text or all(i["verified"] for i in custom["items"])


def test_location_after_asking_for_meal_points_lists_the_nearest_with_distance(bot_url: str) -> None:
    user = WeChatUser(bot_url)
    user.send("text", Content="我想找助餐点")
    answer = user.send("location", Location_X="30.5800", Location_Y="114.2700", Scale="15", Label="武汉市江汉区")
    assert "最近的老年助餐" in answer and "公里" in answer, answer
