"""Rasa's own checks: data validation, generated files up to date, test stories, and the REST contract
end to end (both servers on free ports, the dev cases of shared/eval)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot import generate
from bot.launcher import ROOT, base_env
from replies.contract import validate_turn
from tools.eval import load_cases, report, run, summary

DEV_CASES = ROOT / "tests" / "eval" / "dev_cases.yaml"


def _rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=ROOT, env=base_env(),
                          capture_output=True, text=True, timeout=900)


def test_generated_nlu_files_are_fresh() -> None:
    assert generate.main(["--check"]) == 0, "run: python -m bot.generate"


def test_rasa_data_validate() -> None:
    res = _rasa("data", "validate", "--config", "config.yml", "--domain", "domain.yml", "--data", "data")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_rasa_test_core_stories(model: Path, tmp_path: Path) -> None:
    res = _rasa("test", "core", "--model", str(model), "--stories", "tests/test_stories.yml",
                "--fail-on-prediction-errors", "--out", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_dev_cases_end_to_end(bot_url: str) -> None:
    cases, dialogues = load_cases(DEV_CASES)
    failures = [o for o in run(bot_url, cases, dialogues) if o.problems]
    assert not failures, "\n".join(f"{o.label}: {o.problems}" for o in failures)


# Issue 16's bar is 95 % of single questions, 90 % of the harder half, 90 % of dialogue turns, every emergency caught
# and at most 2 % false alarms. Every set here but the last is a development set (its failures were read); these
# floors guard against regressions a little below what each set measures (README: 理解准确率), since a retrained
# model moves a case or two. The newest set scored blind (blind_bc, scored once; its failures are still unread) sits
# closest to the bar; dev_blind_ao, dev_blind_ap and dev_blind_aq (safety) were never blind.
FLOORS = {"single": 0.95, "hard": 0.90, "turns": 0.90, "emergencies": 0.97, "max_false_alarms": 0.02}
LAST_BLIND = {"single": 0.94, "hard": 0.88, "emergencies": 0.95, "max_false_alarms": 0.03}


DEV_SETS = ["dev_team", "dev_blind_a", "dev_blind_b", "dev_blind_c", "dev_blind_d", "dev_blind_e", "dev_blind_f",
            "dev_blind_g", "dev_blind_h", "dev_blind_i", "dev_blind_j", "dev_blind_k", "dev_blind_l", "dev_blind_m",
            "dev_blind_n", "dev_blind_o", "dev_blind_p", "dev_blind_q", "dev_blind_r", "dev_blind_s", "dev_blind_z",
            "dev_blind_t", "dev_blind_u", "dev_blind_v", "dev_blind_w", "dev_blind_x", "dev_blind_y",
            "dev_blind_y2", "dev_blind_aa", "dev_blind_ab", "dev_blind_ac", "dev_blind_ad", "dev_blind_ae",
            "dev_blind_ag", "dev_blind_ah", "dev_blind_ai", "dev_blind_aj",
            "dev_blind_ak", "dev_blind_al", "dev_blind_ao", "dev_blind_ap",
            "dev_blind_aq", "dev_blind_am", "dev_blind_an", "dev_blind_ar", "dev_blind_as", "dev_blind_at",
            "dev_blind_au", "dev_blind_av", "dev_blind_ax", "dev_blind_aw", "dev_blind_ay",
            "dev_blind_az", "dev_blind_ba", "dev_blind_bb",
            "blind_bc"]


@pytest.mark.parametrize("name", DEV_SETS)
def test_eval_set_floors(bot_url: str, name: str) -> None:
    cases, dialogues = load_cases(ROOT / "tests" / "eval" / f"{name}.yaml")
    outcomes = run(bot_url, cases, dialogues)
    got = summary(outcomes)
    floors = FLOORS | (LAST_BLIND if name == DEV_SETS[-1] else {})
    low = {k: round(got[k], 3) for k, floor in floors.items() if k != "max_false_alarms" and got[k] < floor}
    assert not low and got["false_alarms"] <= floors["max_false_alarms"], (low, got, report(outcomes, show=60))


def test_every_rest_turn_follows_the_contract(bot_url: str) -> None:
    """One conversation through every task, the guard's refusal included: exactly one schema-valid custom per turn."""
    import requests

    tasks = set()
    for message in ["你好", "江汉区有没有助餐点", "第二个电话多少", "哪里能租轮椅", "高龄津贴怎么申请", "武汉市",
                    "我妈能领什么补贴", "我要投诉找人工", "今天天气怎么样", "/restart", "老人摔倒了叫不醒"]:
        r = requests.post(f"{bot_url}/webhooks/rest/webhook", json={"sender": "contract-rest", "message": message},
                          timeout=30)
        assert r.status_code == 200, (message, r.text)
        tasks.add(validate_turn(r.json())["task"])
    assert tasks >= {"chitchat", "find_service", "policy", "handoff", "out_of_scope", "emergency"}, tasks


def test_hostile_and_empty_messages_still_answer(bot_url: str) -> None:
    from tools.eval import send

    for message in ["", "   ", "<script>alert(1)</script>", "'; DROP TABLE events; --", "🙂" * 50, "1" * 300]:
        turn = send(bot_url, f"hostile-{abs(hash(message))}", message)
        assert turn.payload is not None and turn.payload["task"], message


def test_running_bot_answers_a_newly_imported_point(bot, tmp_path: Path) -> None:
    """Staff import a sheet while the bot runs: the next question finds the new point, no restart."""
    from catalog.sheets import import_file
    from tools.eval import send

    sheet = tmp_path / "新增.csv"
    sheet.write_text("编号,服务类别,名称,区县,地址,电话,来源\n"
                     "staff-420117-meal-9,meal,测试新开长者食堂,新洲区,武汉市新洲区某社区,027-01111111,示例数据\n",
                     encoding="utf-8")
    import_file(sheet, by="test", url=bot.database_url)
    turn = send(bot.rasa_url, "no-restart", "新洲区有没有老年食堂")
    assert "测试新开长者食堂" in [i["name"] for i in turn.payload["items"]] or "测试新开长者食堂" in turn.texts[0]
