"""A simulated entrepreneur: a true profile drawn from the knowledge base, answering whatever the bot asks.

The person reads each bot message the way a person would (which question is this?), and answers in varied
free text (`phrasings.yml`): digits and words, "lucas" and "palos", ranges, typos, several answers at once,
a wrong answer corrected on the next turn, "no sé", an off-topic question mid-form, a button now and then.
When the bot says it changed an answer the person did not mean to change, the person corrects it, as people do.

`expected` is what the bot must hold at the end for every slot the person answered clearly; vague and
misspelt answers set no expectation (a re-ask is fine; they are measured by the bench, not asserted).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.rules import DialogueRules, load_dialogue_rules
from bot.domain import Domain, load_domain
from bot.settings import REPO_ROOT
from knowledge import KnowledgeBase
from nlu.parse import normalize, parse_payload

__all__ = ["Action", "BotMessage", "Expect", "Person"]

PHRASINGS = Path(__file__).with_name("phrasings.yml")
ROUTE_MARK = "tu ruta, paso a paso"
Action = tuple[str, str]  # ("say", text) or ("press", button title)
SPELLED = {1: "uno", 2: "dos", 3: "tres", 4: "cuatro", 5: "cinco", 6: "seis", 7: "siete", 8: "ocho", 10: "diez",
           20: "veinte", 30: "treinta", 40: "cuarenta", 50: "cincuenta", 60: "sesenta", 70: "setenta"}  # fmt: skip
CORRECTABLE = ("commune", "sector", "workers", "monthly_sales_clp", "months_operating", "age")
DONT_KNOW_SLOTS = ("months_operating", "monthly_sales_clp", "surplus", "rsh_percentile")


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Expect:
    """The value the bot must keep: one value, an interval (a range answer), or None (answered "no sé")."""

    low: Any
    high: Any = None

    def holds(self, value: Any) -> bool:
        if self.high is None:
            return bool(value == self.low)
        return value is not None and self.low <= value <= self.high


@cache
def _phrasings() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PHRASINGS.read_text(encoding="utf-8"))
    return data


@cache
def _domain() -> Domain:
    return load_domain(REPO_ROOT / "domain.yml")


@cache
def _questions() -> dict[str, str]:
    """The start of every question's text (normalised) -> the slot (or "consent") it asks."""
    prefixes: dict[str, str] = {}
    for name, variants in _domain().responses.items():
        match = re.fullmatch(r"utter_(?:re)?ask_(\w+)", name)
        if match:
            prefixes[_prefix(variants[0].text)] = match.group(1)
    return prefixes


def _prefix(text: str) -> str:
    return normalize(text)[:40]


def _button_values(slot: str) -> dict[str, Any]:
    """Button title -> the value it gives, for the question that asks `slot`."""
    values: dict[str, Any] = {}
    for button in _domain().response(f"utter_ask_{slot}").buttons:
        payload = parse_payload(button.payload)
        if payload and payload["entities"]:
            values[button.title] = payload["entities"][0]["value"]
        elif payload:
            values[button.title] = payload["intent"]["name"]
    return values


class Person:
    """One simulated entrepreneur (seeded: the same seed gives the same person and the same answers)."""

    def __init__(self, seed: int, kb: KnowledgeBase, noise: float = 0.35) -> None:
        self.rng = random.Random(seed)
        self.kb = kb
        self.rules: DialogueRules = load_dialogue_rules()
        self.truth = self._draw_profile()
        self.expected: dict[str, Expect] = {}
        self.noise = noise
        self.extra_turns = self.rng.randint(0, 5)  # how many off-topic, vague, wrong or misspelt answers in all
        self.slot: str | None = None
        self.asked: dict[str, int] = {}
        self.correcting: str | None = None
        self.corrections = 0  # corrections sent for the slot being corrected
        self.routes = 0

    # -- the profile ---------------------------------------------------------------------------------------------

    def _draw_profile(self) -> dict[str, Any]:
        rng = self.rng
        operating = rng.random() < 0.85
        return {
            "commune": rng.choice(sorted(self.kb.communes)),
            "sector": rng.choice(sorted(self.kb.sectors)),
            "operating": operating,
            "months_operating": rng.choice([rng.randint(2, 11), 12 * rng.randint(1, 30)]) if operating else 0,
            "monthly_sales_clp": 50_000 * rng.randint(2, 100) if operating else 0,
            "workers": rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 6, 8]),
            "formal": rng.random() < 0.4,
            "premises": rng.choice(["home", "separate", "none"]),
            "surplus": rng.choice(["regular", "sometimes", "none"]) if operating else "none",
            "keeps_records": rng.random() < 0.5,
            "main_need": rng.choice(sorted(_phrasings()["main_need"])),
            "gender": rng.choice(["female", "female", "male", "male", "other", "undisclosed"]),
            "age": rng.randint(18, 80),
            "rsh_percentile": rng.choice([40, 50, 60, 70, 80, 90, 100]),
        }

    # -- one turn ----------------------------------------------------------------------------------------------

    def opening(self) -> Action:
        return ("say", self.rng.choice(_phrasings()["greeting"]))

    def respond(self, messages: list[BotMessage]) -> Action | None:
        """The next thing the person sends, or None once the route has arrived and nothing is left to correct."""
        changed = self._unwanted_change(messages)
        if any(ROUTE_MARK in normalize(m.text) for m in messages):
            self.routes += 1
            if changed is None and self.correcting is None:
                return None
        asked = self._question(messages)
        if asked is not None:
            self.asked[asked] = self.asked.get(asked, 0) + 1 if asked == self.slot else 1
            self.slot = asked
        if changed is not None:
            self.corrections = 0
            return self._correct(changed)
        if self.correcting is not None and self.correcting != self.slot and self.corrections < 2:
            return self._correct(self.correcting)
        self.correcting = None  # asked again, or not understood twice: the person answers what is asked
        if self.slot is None:
            return ("say", self.rng.choice(_phrasings()["greeting"]))
        buttons = [b for m in messages for b in m.buttons]
        return self._answer(self.slot, buttons, choose=any("elige una de estas" in normalize(m.text) for m in messages))

    def _question(self, messages: list[BotMessage]) -> str | None:
        for message in reversed(messages):
            slot = _questions().get(_prefix(message.text))
            if slot is not None:
                return slot
        return None

    def _unwanted_change(self, messages: list[BotMessage]) -> str | None:
        """A slot the bot says it changed although the person did not mean to change it."""
        for message in messages:
            text = normalize(message.text)
            if not text.startswith("cambie "):
                continue
            for slot, name in self.rules.answer_names.items():
                if text.startswith("cambie " + normalize(name.name) + " a ") and slot != self.correcting:
                    return slot
            self.correcting = None  # the correction the person made was taken
        return None

    # -- answers -----------------------------------------------------------------------------------------------

    def _answer(self, slot: str, buttons: list[str], choose: bool) -> Action:
        rng = self.rng
        if slot == "consent":
            if "Sí, sigamos" in buttons and rng.random() < 0.3:
                return ("press", "Sí, sigamos")
            return ("say", rng.choice(_phrasings()["consent_yes"]))
        retry = self.asked.get(slot, 1) > 1
        if choose or self._must_press(slot) or rng.random() < 0.15:
            pressed = self._press(slot, buttons)
            if pressed is not None:
                return pressed
        if not retry and self.extra_turns > 0 and rng.random() < self.noise:
            self.extra_turns -= 1
            return self._noisy(slot)
        if slot == "commune" and self.asked.get(slot) == 1 and rng.random() < 0.3:
            return ("say", self._several_at_once())
        if slot in DONT_KNOW_SLOTS and rng.random() < 0.05:
            self.expected[slot] = Expect(None)
            return ("say", rng.choice(_phrasings()["dont_know"]))
        return ("say", self._clear(slot, self.truth[slot]))

    def _must_press(self, slot: str) -> bool:
        """Values nobody says in words ("otro" sector, "other" gender) are given with their button."""
        value = self.truth[slot]
        return isinstance(value, str) and not _phrasings().get(slot, {}).get(value, ["-"])

    def _press(self, slot: str, buttons: list[str]) -> Action | None:
        value = self.truth[slot]
        for title, given in _button_values(slot).items():
            if title not in buttons:
                continue
            bucket = next((b for b in _phrasings()["buckets"].get(slot, []) if b[0] == title), None)
            if bucket is not None and bucket[1] <= value <= bucket[2]:
                self.expected[slot] = Expect(int(given))
                return ("press", title)
            if bucket is None and (given == value or given == {True: "affirm", False: "deny"}.get(value)):
                self.expected[slot] = Expect(value)
                return ("press", title)
        return None

    def _noisy(self, slot: str) -> Action:
        rng = self.rng
        kind = rng.choice(["off_topic", "vague", "typo", "wrong"])
        if kind == "off_topic":
            return ("say", rng.choice(_phrasings()["off_topic"]))
        if kind == "wrong" and slot in CORRECTABLE:
            wrong = self._other_value(slot)
            self.correcting, self.corrections = slot, 0
            return ("say", self._clear(slot, wrong, expect=False))
        vague = _phrasings().get(slot, {}).get("vague") if isinstance(_phrasings().get(slot), dict) else None
        if kind == "vague" and vague:
            return ("say", rng.choice(vague))
        return ("say", _typo(rng, self._clear(slot, self.truth[slot], expect=False)))

    def _correct(self, slot: str) -> Action:
        self.correcting = slot
        self.corrections += 1
        prefix = self.rng.choice(_phrasings()["correction_prefix"])
        return ("say", prefix + self._clear(slot, self.truth[slot], named=True))

    def _other_value(self, slot: str) -> Any:
        value = self.truth[slot]
        if slot == "commune":
            return self.rng.choice(sorted(set(self.kb.communes) - {value}))
        if slot == "sector":
            return self.rng.choice(sorted(s for s, p in _phrasings()["sector"].items() if p and s != value))
        if slot == "monthly_sales_clp":
            return value + 50_000 * self.rng.randint(1, 10)
        if slot == "months_operating":
            return value + 12 * self.rng.randint(1, 5) if value % 12 == 0 else value + self.rng.randint(1, 6) * 12
        return value + self.rng.randint(1, 3)

    def _several_at_once(self) -> str:
        """The first answer tells the business in one go: "vendo empanadas en vallenar hace 4 años, somos 2"."""
        parts = [self._clear("sector", self.truth["sector"]) if _phrasings()["sector"][self.truth["sector"]] else ""]
        parts.append("en " + _plain(self.kb.communes[self.truth["commune"]].name))
        self.expected["commune"] = Expect(self.truth["commune"])
        months = self.truth["months_operating"]
        if self.truth["operating"] and months % 12 == 0 and self.rng.random() < 0.6:
            parts.append(f"hace {months // 12} años")
            self.expected["months_operating"] = Expect(months)
        if self.rng.random() < 0.5:
            workers = self.truth["workers"]
            parts.append("solo yo" if workers == 1 else f"somos {workers}")
            self.expected["workers"] = Expect(workers)
        return " ".join(p for p in parts if p).strip()

    def _clear(self, slot: str, value: Any, expect: bool = True, named: bool = False) -> str:
        """A clear answer giving `value` for `slot`; `named` says which slot it is (for corrections)."""
        rng = self.rng
        phrasings = _phrasings()
        expected: Expect = Expect(value)
        if isinstance(value, bool):
            text = rng.choice(phrasings["affirm" if value else "deny"])
        elif slot == "commune":
            name = self.kb.communes[value].name
            pattern = "es {plain}" if named else rng.choice(phrasings["commune"]["clear"])
            text = pattern.format(name=name, plain=_plain(name))
        elif slot in ("sector", "premises", "surplus", "main_need", "gender"):
            text = rng.choice(phrasings[slot][value])
        elif slot == "months_operating":
            text, expected = self._duration(value, named)
        elif slot == "monthly_sales_clp":
            text, expected = self._money(value, named)
        elif slot == "workers":
            many = rng.choice(phrasings["workers"]["many"][:1] if named else phrasings["workers"]["many"])
            text = rng.choice(phrasings["workers"]["one"][:3]) if value == 1 else _numbered(many, value)
        elif slot == "age":
            text = _numbered("tengo {n} años" if named else rng.choice(phrasings["age"]["clear"]), value)
        else:
            text = _numbered(rng.choice(phrasings["rsh_percentile"]["clear"]), value)
        if expect:
            self.expected[slot] = expected
        return text

    def _duration(self, months: int, named: bool) -> tuple[str, Expect]:
        phrasings = _phrasings()["months_operating"]
        if months % 12 == 0:
            years = months // 12
            pattern = "hace {y} años" if named else self.rng.choice(phrasings["years"])
            if "{yword}" in pattern and years not in SPELLED:
                pattern = "hace {y} años"
            return pattern.format(y=years, yword=SPELLED.get(years, "")), Expect(months)
        pattern = "hace {m} meses" if named else self.rng.choice(phrasings["months"])
        return pattern.format(m=months), Expect(months)

    def _money(self, clp: int, named: bool) -> tuple[str, Expect]:
        phrasings = _phrasings()["monthly_sales_clp"]
        thousands = clp // 1000
        if named:
            return f"vendo {thousands} lucas", Expect(clp)
        if clp % 1_000_000 == 0 and self.rng.random() < 0.5:
            return self.rng.choice(phrasings["millions"]).format(m=clp // 1_000_000), Expect(clp)
        if self.rng.random() < 0.1:
            low, high = thousands - 50, thousands + 50
            return phrasings["ranges"][0].format(a=low, b=high), Expect(low * 1000, high * 1000)
        pattern = self.rng.choice(phrasings["clear"])
        dotted = f"{clp:,}".replace(",", ".")
        return pattern.format(k=thousands, dotted=dotted), Expect(clp)


def _numbered(pattern: str, n: int) -> str:
    if "{word}" in pattern and n not in SPELLED:
        pattern = pattern.replace("{word}", "{n}")
    return pattern.format(n=n, word=SPELLED.get(n, ""))


def _plain(name: str) -> str:
    return normalize(name)


def _typo(rng: random.Random, text: str) -> str:
    """Swap two letters inside the longest word (people rarely miss the first letter)."""
    words = text.split(" ")
    index = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[index]
    if len(word) < 5:
        return text
    at = rng.randint(1, len(word) - 3)
    words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)
