"""A short fuzz run in make test (make fuzz sends 10,000) through the REST, kiosk and WeChat doors. The thresholds
are checked here on the report, channel by channel, not left to the tool's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import fuzz


def test_short_fuzz_run_through_every_door(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    code = fuzz.main(["--count", "900", "--max-seconds", "300", "--seed", "11", "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["crashed_processes"] == 0
    assert set(report["channels"]) == {"rest", "kiosk", "wechat"}
    for name, c in report["channels"].items():
        assert c["sent"] >= 200, (name, c)                  # the run was not cut short by its time bound
        assert c["server_errors"] == 0, (name, c)
        assert c["no_payload"] == 0, (name, c)
        assert c["commands_typed"] >= 20, (name, c)         # the measure below is not vacuous
        assert c["commands_executed"] == 0, (name, c)
        assert c["refused_4xx"] > 0, (name, c)              # hostile bodies and forged signatures were sent
    for name in ("rest", "kiosk"):  # WeChat has no buttons to press (a digit picks an option)
        c = report["channels"][name]
        assert c["buttons_pressed"] >= 5 and c["buttons_failed"] == 0, (name, c)
    assert code == 0


class Tracker:
    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict:
        return {"events": self.events}


def test_the_tracker_check_finds_commands_that_reached_rasa_and_buttons_that_did_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the fuzzer counts as an executed command and as a failed button, on a conversation read back."""
    def bot(*payloads: str) -> dict:
        return {"event": "bot", "text": "请选择", "data": {"buttons": [{"title": p, "payload": p} for p in payloads]}}

    def user(text: str) -> dict:
        return {"event": "user", "text": text}

    events = [{"event": "session_started"}, user("你好"), bot("/find_meal", '/inform{"region": "武汉市"}'),
              user("/find_meal"),                    # pressed: a button of the previous reply
              bot(), user("/find_meal"),             # not offered any more: executed
              bot('/inform{"region": "武汉市"}'), user('／inform{"region": "武汉市"}'),  # a button read as words
              user("/restart"),                      # executed
              user("／restart"), user("/emergency")]  # words; the channel's own payload
    monkeypatch.setattr(fuzz.requests, "get", lambda *args, **kwargs: Tracker(events))
    tally = fuzz.Tally(senders={"s"}, pressed={("s", "/find_meal"), ("s", '/inform{"region": "武汉市"}')})
    assert fuzz.executed("http://127.0.0.1:9", "token", tally, frozenset({"/emergency"})) == (2, 1)
    # WeChat: a digit the fuzzer pressed while two options were shown, arriving as the digit itself
    events[-2:] = [bot("/find_meal", "/find_day_care"), user("2")]
    tally.pressed.add(("s", "2"))
    assert fuzz.executed("http://127.0.0.1:9", "token", tally, frozenset({"/emergency"})) == (2, 2)
