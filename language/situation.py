"""A learned reading of danger beside the rules of safety.py: how likely a message tells of an emergency now, and
which number it needs first.

Character n-grams and logistic regression (scikit-learn), trained at first use from the project's own training
data: data/safety/*.yml (emergencies with the number to call, and messages that only sound alarming, written for
training) and every other intent of data/nlu/*.yml as ordinary messages. Training takes a few seconds and is
deterministic; nothing is downloaded. The rules still decide alone where they see a whole situation; keywords.py
says when this model's word counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from language.normalize import normalize

DATA = Path(__file__).resolve().parent.parent / "data"
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")  # "[江汉区](region)" -> "江汉区"


@dataclass(frozen=True)
class Corpus:
    """Training messages: emergencies (with the first number to call) and ordinary or alarming-sounding ones."""

    emergencies: list[tuple[str, str]]
    ordinary: list[str]


def nlu_examples() -> dict[str, list[str]]:
    """Intent -> its training examples in data/nlu/*.yml, entity annotations removed."""
    out: dict[str, list[str]] = {}
    for path in sorted((DATA / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" not in block:
                continue
            lines = str(block.get("examples", "")).splitlines()
            out.setdefault(block["intent"], []).extend(
                _ANNOTATION.sub(r"\1", line.strip().removeprefix("- ").strip()) for line in lines if line.strip())
    return out


@cache
def corpus() -> Corpus:
    """data/safety/*.yml, then the emergency intent of data/nlu as emergencies (to call 120 unless told) and every
    other intent as ordinary messages."""
    emergencies: list[tuple[str, str]] = []
    ordinary: list[str] = []
    for path in sorted((DATA / "safety").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        emergencies += [(e["text"], str(e["number"]).split("|")[0]) for e in data["emergency"]]
        ordinary += [e["text"] for e in data["not_emergency"]]
    for intent, examples in nlu_examples().items():
        if intent == "emergency":
            emergencies += [(text, "") for text in examples]  # no number given: trains the reading, not the number
        else:
            ordinary += examples
    return Corpus(emergencies, ordinary)


@dataclass(frozen=True)
class _Model:
    vectorizer: TfidfVectorizer
    danger: LogisticRegression
    number: LogisticRegression


@cache
def _model() -> _Model:
    data = corpus()
    texts = [normalize(t) for t, _ in data.emergencies] + [normalize(t) for t in data.ordinary]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform(texts)
    labels = [1] * len(data.emergencies) + [0] * len(data.ordinary)
    danger = LogisticRegression(C=4, class_weight="balanced", max_iter=2000).fit(features, labels)
    numbered = [i for i, (_, n) in enumerate(data.emergencies) if n]
    number = LogisticRegression(C=4, class_weight="balanced", max_iter=2000).fit(
        features[numbered], [data.emergencies[i][1] for i in numbered])
    return _Model(vectorizer, danger, number)


def warm_up() -> None:
    """Train now (a server calls this at start, so the first message does not wait)."""
    _model()


@lru_cache(maxsize=1024)
def likelihood(text: str) -> float:
    """How likely the (normalized) message tells of an emergency now, 0 to 1."""
    m = _model()
    return float(m.danger.predict_proba(m.vectorizer.transform([text]))[0, 1])


@lru_cache(maxsize=1024)
def likely_number(text: str) -> str:
    """The number an emergency told in these words most likely needs first: "120", "110" or "119"."""
    m = _model()
    return str(m.number.predict(m.vectorizer.transform([text]))[0])
