"""The language layer: normalization that never damages text, ordinals, ages and places below the county.

Every sentence here was written for this file (everyday Mandarin on any topic); none comes from tests/eval.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from language.aspects import aspect
from language.normalize import normalize
from language.numbers import age, ordinal, position_index
from language.places import ambiguous_city, ambiguous_meant, place_problem, sub_place_district
from language.words import words

ROOT = Path(__file__).resolve().parent.parent

# Plain Mandarin: normalization may change punctuation, width and spaces, nothing else.
_PLAIN_TEXT = """
今天天气不错，我们出去走走吧。
你吃饭了吗？
明天早上要下雨，记得带伞。
这件衣服怎么样？
有什么事吗？
他最近身体怎么样了？
我想去超市买点水果。
孩子们周末回来看我。
晚饭做了红烧肉和青菜。
小区门口新开了一家面包店。
我不太会用智能手机。
请问这个字怎么读？
公交车几点到站？
我家的猫特别喜欢晒太阳。
昨天晚上没睡好，有点头晕。
你说的那个地方我去过。
这个月的电费比上个月多。
楼下的邻居人很好。
我每天早上都去公园打太极拳。
孙女考上大学了，全家都很高兴。
冰箱里还有几个鸡蛋。
你帮我看看这个药怎么吃。
医生说要少吃盐。
我想学唱歌，有没有人教？
银行卡的密码忘记了怎么办？
这条路修了好久还没修好。
今年的桃子特别甜。
电视遥控器找不到了。
我喜欢看京剧。
她的手艺真不错。
这本书是谁借给你的？
我们下午去喝茶吧。
我一个人在家有点无聊。
你最近忙不忙？
这里离火车站远不远？
我的眼镜放在哪里了？
天冷了，多穿点衣服。
菜市场的菜比超市便宜。
我想给家里装个热水器。
明天是我老伴的生日。
这个周末有什么安排？
他们一家人都很热情。
我们小时候没有这么多玩具。
门口的快递是谁的？
空调的声音有点大。
我今天走了很多路，腿有点酸。
你能不能说慢一点？
这个价格还算合理。
窗户外面有只小鸟。
早饭吃的是豆浆油条。
晚上出门要注意安全。
我想换个大一点的手机屏幕。
今年春节回老家过年。
他说话的声音很好听。
昨天下午我去理发了。
这道题我也不会做。
你觉得这个颜色好看吗？
我把钥匙落在办公室了。
这家饭馆的饺子很有名。
她每天都坚持锻炼身体。
我们一起去看电影吧。
花园里的花都开了。
这个问题有点复杂。
我不太明白你的意思。
周末的时候人比较多。
我喜欢吃甜的东西。
这条裤子有点长。
你先坐一下，我马上就来。
他的字写得很漂亮。
我们家附近有个菜场。
今天的新闻你看了吗？
我觉得还是早点休息比较好。
这个牌子的牛奶不错。
外面风很大，把窗户关上。
我妈妈做的汤最好喝。
他已经退休好几年了。
你们那边冷不冷？
这台洗衣机用了很多年。
我想找个时间去爬山。
你的普通话说得真好。
这些照片都是去年拍的。
我女儿在外地工作。
她很会照顾人。
我们明天几点出发？
这个菜有点咸。
你把声音开大一点。
他每天晚上都看新闻联播。
我的手机没电了。
这次旅行玩得很开心。
我今天不太舒服，想在家休息。
他们正在讨论明年的计划。
这里的空气很新鲜。
我不喜欢太吵的地方。
她的孩子很懂事。
你有没有看到我的帽子？
这家店的服务态度很好。
我想把旧衣服捐出去。
他开车技术很好。
今天的太阳真大。
我们好久没见面了。
这条河以前很清。
你记得把门锁好。
这款手机拍照很清楚。
我最近迷上了钓鱼。
他做事情很认真。
这道菜是怎么做的？
我们去散散步吧。
她笑起来很好看。
你知道怎么去博物馆吗？
我想报个书法班。
这里的房子都很旧了。
我今天起得很早。
他们家的狗很听话。
你怎么知道的？
这件事情我会处理好的。
我们坐地铁去吧。
他的身体一直很好。
你喜欢喝什么茶？
这个沙发坐着很舒服。
我想给孙子买个礼物。
外面下雪了。
你别着急，慢慢说。
这个电话号码是谁的？
我们晚上吃面条吧。
她唱歌特别好听。
这里的冬天很长。
我想学用电脑上网。
他说明天再来。
你们什么时候放假？
这台电脑有点慢。
我觉得这个主意不错。
她每天都给花浇水。
我们去公园里坐坐。
你的头发剪短了。
这个地方我第一次来。
他的性格很开朗。
我想喝点热水。
今天路上有点堵。
这个故事很感人。
你帮我拿一下那个杯子。
我们楼里住着很多老人。
这家医院的医生很负责。
他喜欢下象棋。
你明天有空吗？
我把那本书看完了。
这里的夜景很漂亮。
她做的包子很好吃。
我们一起去买菜吧。
你觉得累不累？
这个季节的水果很多。
他每天都按时吃药。
我想去海边看看。
你怎么不早说？
这个房间有点暗。
我们好好聊一聊。
他的孩子在国外读书。
这条街晚上很热闹。
我想把家里收拾一下。
你听说了吗？
这个月的工资发了吗？
她的衣服都是自己做的。
我们小区的绿化很好。
你的手怎么这么凉？
这个办法可以试试。
他每天早上都跑步。
我想学做蛋糕。
你们家有几口人？
这个节目很有意思。
我今天买了一条鱼。
她说话很温柔。
我们去哪里吃午饭？
你的眼睛看东西清楚吗？
这个小孩真可爱。
他今天心情不太好。
我想换一个新的锅。
这里的交通很方便。
你什么时候回来？
我们下周再见。
她很喜欢跳广场舞。
这个西瓜很甜。
你帮我看看这是什么字。
他们家装修得很漂亮。
我想多出去走走。
这首歌我很喜欢。
你把灯打开吧。
这里的人都很友好。
我今天收到了一封信。
他的脾气有点急。
我们一起包饺子吧。
你还记得那件事吗？
这个椅子有点硬。
我想去看看老朋友。
她的记性特别好。
我们走路去吧。
你觉得哪个更好？
这个季节适合去旅游。
他喜欢养花。
我想打个电话给儿子。
这个地方变化很大。
你慢点走，别摔着。
我们家的电视坏了。
她每天都写日记。
这个星期天气都不错。
你怎么这么晚才回来？
我想吃点清淡的。
他们明天要搬家。
这个蛋糕是谁做的？
我们坐一会儿再走。
你的声音听起来很累。
这里离医院很近。
我想去买双新鞋。
她的女儿很孝顺。
我们一起喝杯茶吧。
你的车停在哪里？
这道题的答案是什么？
他每天都去图书馆看书。
我想把照片洗出来。
这里的饭菜很合口味。
你们聊什么呢？
我今天有点忙。
这个牌子的电饭煲好用吗？
她很喜欢小动物。
我们明天早点起床。
你把这个放在桌子上。
这里的风景真美。
他说的话有道理。
我想给老家寄点东西。
你平时喜欢做什么？
这件事别告诉别人。
我们去楼下转转。
她今天穿得很漂亮。
你吃过这种水果吗？
这个门有点难开。
我想听听你的意见。
他们在公园里下棋。
你的字越写越好了。
这里夏天很热。
我们什么时候去看望奶奶？
她把房间打扫得很干净。
你觉得这样行不行？
我想找人聊聊天。
这个月的水费交了吗？
他喜欢拉二胡。
我们一起去晒晒太阳。
你的鞋子很好看。
这里的路不太好走。
我想学用微信视频。
她的手很巧。
这个点心太甜了。
你们都吃饱了吗？
我今天去社区医院量了血压。
他每天都给家里打电话。
这里晚上很安静。
我想换个发型。
你帮我把窗帘拉上。
这个手机字太小了。
我们家楼下就是公交站。
她做饭的时候喜欢听收音机。
你最近睡得好吗？
这个季节容易感冒。
我想出去透透气。
他们正在排队买票。
这本杂志挺好看的。
你别忘了带身份证。
我们中午在哪里休息？
这里的老房子都拆了。
她给我织了一件毛衣。
你的记性比我好。
我今天不想做饭了。
这个公园早上人很多。
他说话总是很幽默。
我想把阳台改成小花园。
你们那里下雨了吗？
这个牙膏用起来很清爽。
我们去河边看看吧。
她的笑声很爽朗。
你能帮我一个忙吗？
这里的商店关门很早。
我想给自己放个假。
他每天都练毛笔字。
你们家的饭菜真香。
这条围巾很暖和。
我们一起去听戏吧。
你今天看起来精神很好。
这里新修了一座桥。
我想给孙女讲个故事。
她总是第一个到。
你怎么这么客气？
这个锅煮粥很好。
我们晚上早点睡。
他把自行车修好了。
这个小区停车很难。
我想买点新鲜的蔬菜。
你们要不要一起来？
这里的茶很香。
她每天都去买早点。
我觉得有点冷。
你别担心，没事的。
这家超市周末打折。
我想去看看油菜花。
他们请我去吃饭。
你的电话一直占线。
这里的冬天不太冷。
我们一起做个伴吧。
她的眼睛很大。
你想吃点什么？
这个月过得真快。
我今天特别开心。
"""
PLAIN = [line for line in _PLAIN_TEXT.splitlines() if line]


def _plain(s: str) -> str:
    """The text without punctuation, spaces and width differences."""
    s = unicodedata.normalize("NFKC", s)
    return "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")


def test_plain_mandarin_comes_back_unchanged() -> None:
    assert len(set(PLAIN)) >= 300
    damaged = [(s, normalize(s)) for s in PLAIN if normalize(s) != _plain(s)]
    assert not damaged, damaged


def _corpus(n: int = 3000) -> list[str]:
    """Random messages built from the pieces normalization touches: dialect, fillers, standard words that contain
    them, numerals, traditional characters, catalog words and their homophones, spaces, punctuation, width."""
    w = words("normalize")
    pieces = [*w["dialect"], *w["dialect"].values(), *w["standard"], *w["fillers"], *w["fillers_alone"],
              "八十五", "七十多", "十", "十分", "第十二个", "一九五零年", "五零年生", "两百", "万一", "千万",
              "三三两两",
              "漢陽區", "養老院", "輪椅", "轮倚", "助参点", "养劳院", "高令津贴", "主餐", "住浴室", "江汉区", "洪山区",
              "助餐点", "怎么样", "有什么事", "ＡＢＣ", "１２３", "85", "abc", " ", "  ", "，", "！", "？", "😀",
              "\u3000",
              "啊啊啊", "嗯嗯", "老人", "在", "家", "想", "找", "吗", "的", "了", "我", "妈", "岁"]
    rng = random.Random(16)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(n)]


def test_normalize_is_idempotent() -> None:
    bad = [(s, normalize(s), normalize(normalize(s))) for s in _corpus() if normalize(normalize(s)) != normalize(s)]
    assert not bad, bad[:10]


@pytest.mark.parametrize("raw,expected", [
    ("武昌区的日间照料怎么样", "武昌区的日间照料怎么样"),  # never 怎怎么样
    ("有什么事吗", "有什么事吗"),
    ("你这个人怎么样嘛", "你这个人怎么样嘛"),
    ("补贴额度是多少", "补贴额度是多少"),
    ("额 补贴有多少", "补贴有多少"),  # a filler at the start goes, 额度 above stays
    ("也就是说要排队", "也就是说要排队"),
    ("十分感谢 万一不行呢", "十分感谢万一不行呢"),
    ("我爸么样了", "我爸怎么样了"),  # dialect 么样 on its own is repaired
    ("搞么事的地儿", "干什么的地方"),
    ("轮 椅 哪 里 租", "轮椅哪里租"),  # voice input: spaces between characters
    ("我 住 洪 山 区", "我住洪山区"),
    ("ABC 江汉区", "ABC 江汉区"),
    ("想租个轮倚", "想租个轮椅"),  # two-character homophones of catalog words
    ("附近有没有助参点", "附近有没有助餐点"),
    ("我家浴室太滑", "我家浴室太滑"),
    ("今天的主餐是鱼", "今天的主餐是鱼"),
    ("我住浴室旁边那间", "我住浴室旁边那间"),
    ("桥口区有食堂吗", "硚口区有食堂吗"),  # a region's name, its 区 written
    ("临沂适老化改造", "临沂适老化改造"),  # 临沂 + 适老化, not 临沂市 + 老化
    ("不是武汉是咸宁", "不是武汉是咸宁"),
    ("爷爷九十二岁 住二楼", "爷爷92岁住二楼"),
    ("第十一个呢", "第11个呢"),
    ("一九五二年出生的", "1952年出生的"),
    ("兩個人 後來 頭髮", "两个人后来头发"),
    ("血糖只有2.3", "血糖只有2点3"),  # a decimal point is read, not dropped
    ("请护理员上门", "请护理员上门"),  # a word of its own that sounds like 护理院
    ("伍保户怎么申请", "五保户怎么申请"),
])
def test_normalize_cases(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("message,position", [
    ("第六个地址在哪", 6), ("第十个怎么走", 10), ("第12个的电话", 12), ("第二十三家呢", 23),
    ("倒数第二个是哪里", -2), ("倒数第1家", -1), ("最后一个几点开门", -1), ("最后那家收费吗", -1),
    ("第三家电话多少", 3), ("头一个在哪", 1), ("第 4 个", 4),
    ("电话多少", None), ("第一次来这边", None), ("第二天再去", None), ("那家贵不贵", None),
])
def test_ordinal(message: str, position: int | None) -> None:
    assert ordinal(message) == position


def test_position_index() -> None:
    assert position_index(6, 8) == 5
    assert position_index(-2, 5) == 3
    assert position_index(-1, 3) == 2
    assert position_index(6, 5) is None
    assert position_index(-4, 3) is None


@pytest.mark.parametrize("message,years", [
    ("老太太今年91了 住6楼", 91),
    ("我住在十八楼 她七十九", 79),
    ("家父1940年生人", 2026 - 1940),
    ("她是一九四八年出生的", 2026 - 1948),
    ("老爷子49年生的", 2026 - 1949),
    ("我妈七十出头", 71),
    ("奶奶九十多岁了", 91),
    ("老头快八十了", 79),
    ("我68 老伴72", 72),  # several people: the older one is the one asked about
    ("婆婆83岁 公公86岁 我们想问补贴", 86),
    ("他八十三周岁", 83),
    ("一个月退休金3000 老人77岁", 77),
    ("电话号码是13800001111", None),
    ("房租一个月800块", None),
    ("住在23号楼", None),
    ("孩子35岁", None),
    ("2025年申请过", None),
])
def test_age(message: str, years: int | None) -> None:
    assert age(message, year=2026) == years


def test_age_uses_this_year_in_china() -> None:
    from catalog import clock

    assert age("1950年出生") == clock.today().year - 1950


@pytest.mark.parametrize("message,district", [
    ("我妈住在卓刀泉街道", "420111"),  # a street (街道) names its district
    ("老人在吴家山 想找个吃饭的地方", "420112"),  # the street's name without 街道
    ("我们是前川街道的", "420116"),
    ("家在九宫山镇", "421224"),  # a town (镇)
    ("在黄鹤楼旁边住", "420106"),  # a landmark
    ("住在江汉二桥附近", "420105"),  # 江汉 inside the name is not 江汉区
    ("我们在兰山区", None),  # a district is the region entity's job, not a sub-place
    ("就在关山 有没有老年食堂", "420111"),  # a two-character name with a place cue
    ("关山", "420111"),
    ("纸坊", "420115"),  # also an ordinary word: only as the whole answer
    ("这个纸坊做的纸很好", None),
    ("在路口等我", None),
    ("我们去大店买东西", None),
    ("中山公园旁边那个小区", "420103"),
    ("兰陵社区养老的地方", None),  # a county's name and 社区, not a community of another county
    ("老两口住卓刀泉街 想请个保姆", "420111"),  # a 街道 said as 街
    ("横店那边能申请助浴吗", "420116"),  # a town's name without 镇/街道, with a place cue
    ("关山有助餐点吗", "420111"),  # a two-character town name before a service word
    ("双堠哪里有养老院", "371321"),
    ("我爸住宗关", "420104"),  # a rare ordinary word after a home cue
    ("梨园那边有没有日间照料", "420111"),
    ("去宗关办点事", None),  # a rare ordinary word without a home cue
    ("想请人上门打扫 在纱帽", "420113"),  # a rare ordinary word at the end, after 在
    ("宗关这一片有没有助浴", "420104"),
    ("邾城有老年食堂吗", "420117"),  # a town name before 有
    ("俺家是纸坊的", "420115"),  # a common word as the whole answer after a home cue
    ("纸坊那边有没有助浴", "420115"),  # a town's name that is also a word, with a home cue (places.yml home_names)
    ("住在车站附近", None),  # a common ordinary word needs to be the whole answer
    ("花园有没有长椅", None),
    ("在马路口等车", None),
    ("我妈住在光谷", "420111"),  # a landmark
    ("就在武钢这边", "420107"),
    ("协和医院旁边的小区", "420103"),
    ("临沂市人民医院对面", "371302"),  # a city's name inside a landmark: the landmark's district
    ("武汉站附近有没有养老院", "420111"),
    ("咸宁市中心医院附近", "421202"),
    ("下个月湖北出新政策吗", None),  # 月湖 is no place here
    ("芝麻墩街道那边有助浴吗", "371312"),  # a 街道 missing from jionlp, from 国家地名信息库
])
def test_sub_place_names_its_district(message: str, district: str | None) -> None:
    assert sub_place_district(normalize(message)) == district


def test_ambiguous_and_outside_places_are_asked_back(regions) -> None:
    name, options = place_problem(normalize("我住东湖风景区街道"), regions)  # in two districts
    assert name == "东湖风景区街道" and set(options) == {"武昌区", "洪山区"}
    name, options = place_problem(normalize("我们是向阳村的"), regions)  # a village name in several counties
    assert name == "向阳村" and len(options) > 1
    assert place_problem(normalize("西安有没有养老院"), regions) == ("西安", [])
    for fine in ("我住在北京路附近", "南京路上有助餐点吗", "青山区助餐点", "我在卓刀泉", "蔡店街道有食堂吗"):
        assert place_problem(normalize(fine), regions) is None, fine
    assert place_problem(normalize("我在青山"), regions)[1] == ["青山区", "崇阳县"]


def test_every_landmark_names_a_covered_district(regions) -> None:
    from language.words import words

    landmarks = words("landmarks")["landmarks"]
    assert len(landmarks) == 31  # every district the catalog covers has landmarks
    for district, names in landmarks.items():
        place = regions.resolve(district)
        assert place is not None and place.level == "district", district
        for name in names:
            assert sub_place_district(normalize(f"住在{name}附近")) == place.code, name


@pytest.mark.parametrize("message,city,district", [
    ("武昌的房子卖了 现在住青山", None, "420107"),  # a Wuhan district named earlier in the message
    ("青山有没有护理院", "武汉市", "420107"),  # the conversation is in Wuhan
    ("青山有没有护理院", "咸宁市", "421223"),
    ("在光谷上班 家在青山", None, "420107"),  # a Wuhan landmark in the message
    ("青山有没有护理院", None, "420107"),  # nothing says which: its usual option (the reply says so)
    ("汉口有没有护理院", "武汉市", None),  # all options in one city: asked back
])
def test_ambiguous_place_read_in_the_users_city(regions, message: str, city: str | None, district: str | None) -> None:
    assert ambiguous_meant(normalize(message), regions, city) == district


@pytest.mark.parametrize("message,city", [
    ("汉口有没有护理院", "武汉市"),  # every option in Wuhan: the whole city
    ("孟良崮那边有敬老院吗", "临沂市"),
    ("青山有没有护理院", None),  # Wuhan or Xianning: not one city
    ("江汉区有护理院吗", None),
])
def test_ambiguous_place_in_one_city_gives_the_city(regions, message: str, city: str | None) -> None:
    assert ambiguous_city(normalize(message), regions) == city


def test_word_lists_live_once_in_language_data() -> None:
    """templates.yml holds reply texts; the words the bot reads are in language/*.yml only."""
    import yaml

    templates = yaml.safe_load((ROOT / "replies" / "templates.yml").read_text(encoding="utf-8"))
    for key in ("aspects", "ordinals", "negations", "outside_places", "ambiguous_places", "rent_words",
                "nearby_words", "self_care_words", "economic_words", "place_suffix_stopwords"):
        assert key not in templates, key


@pytest.mark.skipif(importlib.util.find_spec("jionlp") is None, reason="jionlp (dev) not installed")
def test_towns_file_is_what_the_generator_gives() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.gen_towns", "--check"], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stdout.decode()


def _tracker(text: str, slots: dict) -> Tracker:
    latest = {"text": normalize(text), "intent": {"name": "ask_detail", "confidence": 0.9}, "entities": [],
              "intent_ranking": [], "metadata": {}}
    return Tracker("lang-user", slots, latest, [], False, None, {}, "action_listen")


@pytest.fixture()
def listed(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Slots after a list of care homes in 洪山区."""
    monkeypatch.setenv("DATABASE_URL", catalog_url)
    from actions.services import answer_service
    from catalog.db import session_scope
    from catalog.query import Regions

    with session_scope(catalog_url) as session:
        regions = Regions(session)
        _, events = answer_service(session, regions, "care_home", regions.resolve("洪山区"), None)
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _detail(text: str, slots: dict) -> str:
    from actions.conversation import ActionFollowUp

    dispatcher = CollectingDispatcher()
    asyncio.run(ActionFollowUp().run(dispatcher, _tracker(text, slots), {}))
    return "\n".join(m["text"] for m in dispatcher.messages if m.get("text"))


def test_point_details_by_ordinal(listed: dict) -> None:
    count = len(listed["last_items"])
    assert count >= 2
    assert re.search(rf"第{count}个", _detail("倒数第一个在哪", listed))
    assert "第2个" in _detail("第二个地址", listed)
    assert f"共{count}个" in _detail(f"第{count + 4}个电话", listed)  # out of range: says so, never the first
    assert "第几个" in _detail("电话多少", listed)  # several places and no ordinal: asks which


def test_wuhan_where_and_when_read_as_standard_words_only_standing_alone() -> None:
    assert normalize("这是么地方") == "这是什么地方"
    assert normalize("么时候开门") == "什么时候开门"
    for fine in ("怎么地方都找不到", "那又怎么地", "什么地方"):
        assert normalize(fine) == fine
    assert aspect(normalize("什么人可以办")) == "eligibility"


def test_a_district_named_without_its_suffix_is_repaired_by_ear_but_a_town_stays() -> None:
    assert normalize("菜甸有没有助浴") == "蔡甸有没有助浴"
    assert normalize("举南的老年大学") == "莒南的老年大学"
    assert normalize("江安区有养老院吗") == "江岸区有养老院吗"  # heard exactly beats heard loosely (咸安区)
    assert normalize("蔡店有没有日托") == "蔡店有没有日托"  # a town of 黄陂区, not 蔡甸


def test_a_homophone_repair_never_breaks_a_word_outside_the_run() -> None:
    assert normalize("好久没洗澡已经身上发痒") == "好久没洗澡已经身上发痒"  # 洗澡 + 已经, not 洗澡椅 + 经
    assert normalize("想借个洗澡已") == "想借个洗澡椅"
