"""Numbers, money amounts and durations in Chilean Spanish chat messages.

The parser works on a normalised copy of the message (lower case, accents removed) split into tokens
(digit groups, words, ``$`` and ``%``), and keeps a map back to the original text so every match reports
offsets into the text it was given.

It understands:

* digits with Chilean separators: ``1.500.000`` (thousands dots), ``2,5`` (decimal comma), ``1.5 millones``;
* spelled-out numbers: ``cinco``, ``veintidós``, ``veinti uno``, ``treinta y cinco``, ``dos mil``,
  ``un millón y medio``, ``medio``;
* money: ``$``, ``pesos``, ``lucas`` (thousands), ``palos`` (millions), ``millones``/``MM``/``M``, ``800 mil``,
  ``800k``, and bare amounts in a sales context (``vendo 1500 al día``);
* durations in months: ``hace 4 años``, ``8 meses``, ``año y medio``, ``2 semanas``, ``2 años y 6 meses``;
* roles for plain numbers: ``workers`` (``somos 3``, ``3 trabajadores``, ``solo yo``), ``age``
  (``tengo 52 años``, ``52 años de edad``) and ``rsh`` (``40%``, ``el 40``, ``tramo 40``).

Everything runs in time linear in the length of the text; no regular expression can backtrack
catastrophically, and no input raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal, NamedTuple

__all__ = ["NumberMatch", "find_numbers", "parse_duration_months", "parse_money", "parse_number"]

_Entity = Literal["number", "money", "duration"]


@dataclass(frozen=True)
class NumberMatch:
    """One number, money amount or duration found in a text.

    ``value`` is the integer for ``number``, pesos (CLP) for ``money`` and whole months for ``duration``.
    ``start``/``end`` are offsets into the original text: ``text[start:end]`` is the matched span.
    ``role`` is ``"workers"``, ``"age"`` or ``"rsh"`` for a ``number`` whose context says so, else ``None``.
    """

    entity: _Entity
    value: int
    start: int
    end: int
    role: str | None = None


# --------------------------------------------------------------------------------------------------- vocabulary

_UNIT_WORDS: Final[dict[str, int]] = {
    "cero": 0,
    "un": 1,
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
}
_TEEN_WORDS: Final[dict[str, int]] = {
    "once": 11,
    "doce": 12,
    "trece": 13,
    "catorce": 14,
    "quince": 15,
    "dieciseis": 16,
    "diecisiete": 17,
    "dieciocho": 18,
    "diecinueve": 19,
}
_TEN_WORDS: Final[dict[str, int]] = {
    "diez": 10,
    "veinte": 20,
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
    "sesenta": 60,
    "setenta": 70,
    "ochenta": 80,
    "noventa": 90,
}
_HUNDRED_WORDS: Final[dict[str, int]] = {
    "cien": 100,
    "ciento": 100,
    "doscientos": 200,
    "trescientos": 300,
    "cuatrocientos": 400,
    "quinientos": 500,
    "seiscientos": 600,
    "setecientos": 700,
    "ochocientos": 800,
    "novecientos": 900,
}
_MULTIPLIER_WORDS: Final[dict[str, tuple[str, int]]] = {
    "mil": ("mil", 1000),
    "millon": ("millon", 10**6),
    "millones": ("millon", 10**6),
    "mill": ("millon", 10**6),
    "medio": ("half", 0),
    "media": ("half", 0),
    "dieci": ("prefix", 10),
    "veinti": ("prefix", 20),
    "venti": ("prefix", 20),
}
# Cheap, unambiguous misspellings (seseo, b/v). "siento" (I feel) and "vente" (come) are deliberately absent.
_TYPOS: Final[dict[str, str]] = {
    "sero": "cero",
    "sinco": "cinco",
    "seys": "seis",
    "nuebe": "nueve",
    "dies": "diez",
    "onse": "once",
    "dose": "doce",
    "trese": "trece",
    "catorse": "catorce",
    "quinse": "quince",
    "diesiseis": "dieciseis",
    "diesisiete": "diecisiete",
    "diesiocho": "dieciocho",
    "diesinueve": "diecinueve",
    "beinte": "veinte",
    "trenta": "treinta",
    "sincuenta": "cincuenta",
    "nobenta": "noventa",
    "dosientos": "doscientos",
    "tresientos": "trescientos",
    "cuatrosientos": "cuatrocientos",
    "seisientos": "seiscientos",
    "setesientos": "setecientos",
    "ochosientos": "ochocientos",
    "novesientos": "novecientos",
    "milones": "millones",
}


def _build_words() -> dict[str, tuple[str, int]]:
    """The number-word table: normalised word -> (grammar class, value)."""
    words: dict[str, tuple[str, int]] = {}
    tables = ((_UNIT_WORDS, "unit"), (_TEEN_WORDS, "teen"), (_TEN_WORDS, "ten"), (_HUNDRED_WORDS, "hundred"))
    for table, cls in tables:
        for name, value in table.items():
            words[name] = (cls, value)
    for name, value in _UNIT_WORDS.items():
        if value:
            words["veinti" + name] = ("teen", 20 + value)
            words["venti" + name] = ("teen", 20 + value)
    for name, value in _HUNDRED_WORDS.items():
        if name.endswith("os"):
            words[name[:-2] + "as"] = ("hundred", value)
    words.update(_MULTIPLIER_WORDS)
    for typo, canonical in _TYPOS.items():
        words[typo] = words[canonical]
    return words


_WORDS: Final[dict[str, tuple[str, int]]] = _build_words()

_MONEY_UNITS: Final[dict[str, int]] = {
    "luca": 1000,
    "lucas": 1000,
    "luka": 1000,
    "lukas": 1000,
    "luquita": 1000,
    "luquitas": 1000,
    "k": 1000,
    "palo": 10**6,
    "palos": 10**6,
    "palito": 10**6,
    "palitos": 10**6,
    "mm": 10**6,
}
_PESO_WORDS: Final = frozenset({"peso", "pesos", "pesito", "pesitos", "clp"})
_DURATION_UNITS: Final[dict[str, Fraction]] = {
    "ano": Fraction(12),
    "anos": Fraction(12),
    "anio": Fraction(12),
    "anios": Fraction(12),
    "anito": Fraction(12),
    "anitos": Fraction(12),
    "mes": Fraction(1),
    "meses": Fraction(1),
    "mesecito": Fraction(1),
    "mesecitos": Fraction(1),
    "semana": Fraction(12, 52),
    "semanas": Fraction(12, 52),
    "dia": Fraction(12, 365),
    "dias": Fraction(12, 365),
}

_ARTICLES: Final = frozenset({"un", "uno", "una"})
_FILLERS: Final = frozenset(
    {
        "como",
        "unos",
        "unas",
        "casi",
        "aprox",
        "aproximadamente",
        "mas",
        "menos",
        "o",
        "ya",
        "solo",
        "solamente",
        "ahora",
        "alrededor",
        "cerca",
        "de",
        "al",
        "apenas",
        "actualmente",
        "todavia",
        "igual",
    }
)
_AGE_VERBS: Final = frozenset({"tengo", "tenia", "tendre", "cumpli", "cumplo", "cumplire", "cumplir", "edad"})
_BIRTHDAY_VERBS: Final = frozenset({"cumpli", "cumplo", "cumplire", "cumplir"})
_DURATION_FOLLOWERS: Final = frozenset(
    {"con", "en", "de", "del", "que", "como", "funcionando", "dedicada", "dedicado", "emprendiendo"}
)
_AGE_MIN: Final = 15
_AGE_MAX: Final = 110
_WORKER_VERBS: Final = frozenset({"somos", "trabajamos", "trabajan", "eramos", "seremos", "seriamos"})
_WORKER_NOUNS: Final = frozenset(
    {
        "trabajador",
        "trabajadora",
        "trabajadores",
        "trabajadoras",
        "empleado",
        "empleada",
        "empleados",
        "empleadas",
        "persona",
        "personas",
        "socio",
        "socia",
        "socios",
        "socias",
        "colaborador",
        "colaboradora",
        "colaboradores",
        "colaboradoras",
        "funcionario",
        "funcionaria",
        "funcionarios",
        "funcionarias",
        "operario",
        "operaria",
        "operarios",
        "operarias",
        "ayudante",
        "ayudantes",
        "integrantes",
        "trabajando",
    }
)
_SOLO_PAIRS: Final = frozenset(
    {
        ("solo", "yo"),
        ("sola", "yo"),
        ("solamente", "yo"),
        ("yo", "sola"),
        ("yo", "solita"),
        ("yo", "nomas"),
        ("yo", "solito"),
        ("trabajo", "sola"),
        ("trabajo", "solita"),
        ("yo", "solo"),
        ("trabajo", "solo"),
    }
)
# "yo solo vendo pan" means "I only sell bread": these pairs count only at the end of a clause.
_AMBIGUOUS_SOLO: Final = frozenset({("yo", "solo"), ("trabajo", "solo")})
_RSH_WORDS: Final = frozenset({"tramo", "percentil", "rsh"})
_RSH_TRAMOS: Final = frozenset({40, 50, 60, 70, 80, 90, 100})
_SALES_STEMS: Final = (
    "vend",
    "venta",
    "gan",
    "factur",
    "ingres",
    "cobr",
    "precio",
    "cuest",
    "sueldo",
    "capital",
    "invert",
    "inversion",
    "credito",
    "prestamo",
    "deud",
    "gast",
    "arriendo",
    "presupuesto",
    "monto",
    "utilidad",
)
_SALES_AFTER: Final = frozenset({"mensual", "mensuales", "diario", "diarios", "semanal", "semanales"})
_SALES_AFTER_PAIRS: Final = frozenset({("al", "mes"), ("al", "dia"), ("por", "mes"), ("x", "mes"), ("por", "dia")})
_YEAR_MARKERS: Final = frozenset({"el", "desde", "del", "en", "ano", "anos"})
# Idioms that look like numbers: "partir de cero" / "desde 0" (from scratch; not "de 0 a 10"), "mil gracias"
# (many thanks), and "en un mes vendo..." / "cada una semana" (a period of a rate, not a time in business).
_FROM_SCRATCH_BEFORE: Final = frozenset({"de", "desde"})
_RANGE_AFTER: Final = frozenset({"a", "al", "hasta", "y"})
_MIL_IDIOMS: Final = frozenset({"gracias", "disculpas", "perdones", "veces", "besos", "bendiciones", "saludos"})
_RATE_BEFORE: Final = frozenset({"en", "cada"})

_TOKEN_RE: Final = re.compile(r"(?P<num>[0-9]+(?:[.,][0-9]+)*)|(?P<word>[^\W\d_]+)|(?P<sym>[$%])")
_MAX_DIGIT_TOKEN: Final = 24
_HALF: Final = Fraction(1, 2)

# Which grammar class may follow which (the class of the previous piece, or "start").
_ALLOWED_PREV: Final[dict[str, frozenset[str]]] = {
    "digits": frozenset({"start", "mil", "millon"}),
    "hundred": frozenset({"start", "mil", "millon"}),
    "ten": frozenset({"start", "mil", "millon", "hundred"}),
    "teen": frozenset({"start", "mil", "millon", "hundred"}),
    "unit": frozenset({"start", "mil", "millon", "hundred"}),
    "half": frozenset({"start"}),
    "mil": frozenset({"start", "digits", "hundred", "ten", "teen", "unit"}),
    "millon": frozenset({"digits", "hundred", "ten", "teen", "unit", "mil", "half"}),
}


# ------------------------------------------------------------------------------------------------------ helpers


def _normalize(text: str) -> tuple[str, list[int]]:
    """Lower-case ``text`` and strip its accents; also return, per output character, its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for pos, char in enumerate(text):
        if char.isascii():
            chars.append(char.lower())
            index.append(pos)
            continue
        for part in unicodedata.normalize("NFD", char.lower()):
            if not unicodedata.combining(part):
                chars.append(part)
                index.append(pos)
    return "".join(chars), index


def _round(value: Fraction) -> int:
    """Round half up to an integer (never below zero: the parser produces no negative amounts)."""
    return max(0, int((value + _HALF) // 1))


def _is_grouping(parts: list[str]) -> bool:
    """Whether ``parts`` (a digit string split at one separator) are thousands groups: 1.500.000."""
    head, rest = parts[0], parts[1:]
    if not (1 <= len(head) <= 3 and head.isdigit() and not head.startswith("0")):
        return False
    return all(len(part) == 3 and part.isdigit() for part in rest)


def _parse_mixed(raw: str) -> tuple[Fraction, bool] | None:
    """Digits with both separators: the last one is the decimal mark (1.500,5 or 1,500.5)."""
    cut = max(raw.rfind("."), raw.rfind(","))
    head, tail = raw[:cut], raw[cut + 1 :]
    thousands = "," if raw[cut] == "." else "."
    parts = head.split(thousands)
    if not _is_grouping(parts):
        return None
    return Fraction(f"{''.join(parts)}.{tail}"), True


def _parse_digits(raw: str, before_multiplier: bool) -> tuple[Fraction, bool] | None:
    """Parse a digit token; return (value, used thousands separators) or ``None`` when malformed.

    Dots are thousands separators when every group after the first has three digits ("1.500.000"),
    else a single dot is a decimal point ("1.5 millones"). A comma is a decimal comma ("2,5"), except
    "1,500" (three digits, no multiplier after it) and "1,500,000", which are thousands.
    """
    if len(raw) > _MAX_DIGIT_TOKEN:
        return None
    has_dot, has_comma = "." in raw, "," in raw
    if not (has_dot or has_comma):
        return Fraction(int(raw)), False
    if has_dot and has_comma:
        return _parse_mixed(raw)
    parts = raw.split("." if has_dot else ",")
    if _is_grouping(parts) and (has_dot or len(parts) > 2 or not before_multiplier):
        return Fraction(int("".join(parts))), True
    if len(parts) == 2:
        return Fraction(f"{parts[0]}.{parts[1]}"), False
    return None


class _Tok(NamedTuple):
    kind: str  # "num" | "word" | "sym"
    text: str
    start: int  # offsets into the normalised text
    end: int


class _Unit(NamedTuple):
    entity: _Entity
    factor: Fraction
    size: int  # tokens consumed
    scaling: bool  # "y medio" may follow ("un palo y medio", "dos años y medio")


class _Phrase(NamedTuple):
    value: Fraction
    first: int  # token indexes, inclusive
    last: int
    scale: int  # 1000 / 10**6 when the phrase ends with "mil" / "millón", else 1
    shape: str  # "article" | "half" | "digits" | "words"
    money_like: bool  # contains "millón", or ends with a counted "mil" ("800 mil")
    grouped: bool  # a digit token used thousands separators
    digit_count: int  # digits in a single-token "digits" phrase


class _Found(NamedTuple):
    entity: _Entity
    value: int
    start: int  # offsets into the normalised text
    end: int
    role: str | None
    units: int  # the count before the unit was applied ("52 años" -> 52)


class _Acc:
    """Accumulates a spelled-out (or mixed) number, refusing pieces that do not fit the grammar."""

    def __init__(self) -> None:
        self.millions = Fraction(0)
        self.thousands = Fraction(0)
        self.group = Fraction(0)
        self.last = "start"
        self.mil_used = False
        self.millon_used = False

    @property
    def value(self) -> Fraction:
        return self.millions + self.thousands + self.group

    def push(self, cls: str, value: Fraction) -> bool:
        """Add one piece; return ``False`` (changing nothing) when it cannot follow what came before."""
        if self.last not in _ALLOWED_PREV[cls] or not self._fits(cls, value):
            return False
        if cls == "mil":
            count = self.group if self.last != "start" else Fraction(1)
            self.thousands, self.group, self.mil_used = count * 1000, Fraction(0), True
        elif cls == "millon":
            self.millions = (self.thousands + self.group) * 10**6
            self.thousands, self.group = Fraction(0), Fraction(0)
            self.mil_used, self.millon_used = False, True
        else:
            self.group += value
        self.last = cls
        return True

    def add_after_and(self, unit: int) -> None:
        """Add the unit after "y" in "treinta y cinco" (the caller checked that a ten came last)."""
        self.group += unit
        self.last = "unit"

    def _fits(self, cls: str, value: Fraction) -> bool:
        if self.group.denominator != 1:  # "2,5" and "medio" only take a multiplier after them
            return cls in ("mil", "millon")
        if cls == "mil":
            return not self.mil_used and self.group < 1_000_000  # "1700 mil" is 1.700.000
        if cls == "millon":
            return not self.millon_used
        if cls == "digits":
            if value.denominator != 1:
                return self.last == "start"
            limit = {"mil": 1000, "millon": 10**6}.get(self.last)
            return limit is None or value < limit
        return cls != "unit" or value != 0 or self.last == "start"


# ------------------------------------------------------------------------------------------------------ scanner


class _Scanner:
    """One pass over one text. Every lookup looks a bounded number of tokens around the current one."""

    def __init__(self, text: str, *, keep_articles: bool = False, prefer_duration: bool = False) -> None:
        self.text = text
        self.keep_articles = keep_articles
        self.prefer_duration = prefer_duration
        self.norm, self.index = _normalize(text)
        self.toks = [_Tok(m.lastgroup or "", m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(self.norm)]
        self.joined = [False] * len(self.toks)
        for pos in range(1, len(self.toks)):
            gap = self.norm[self.toks[pos - 1].end : self.toks[pos].start]
            self.joined[pos] = gap == "" or gap.isspace()

    # ---- token access

    def _is_joined(self, j: int) -> bool:
        """Token ``j`` exists and only whitespace separates it from the token before."""
        return 0 < j < len(self.toks) and self.joined[j]

    def _word(self, j: int) -> str:
        """The word at ``j`` when it continues the phrase before it (whitespace only), else ""."""
        if self._is_joined(j) and self.toks[j].kind == "word":
            return self.toks[j].text
        return ""

    def _prev_index(self, i: int, skip: bool) -> int:
        """Index of the word before token ``i`` (skipping fillers like "como", "unos" when ``skip``), or -1."""
        k = i - 1
        while k >= 0 and i - k <= 5:
            tok = self.toks[k]
            if tok.kind != "word":
                return -1
            if not (skip and tok.text in _FILLERS):
                return k
            k -= 1
        return -1

    def _prev_word(self, i: int, skip: bool) -> str:
        k = self._prev_index(i, skip)
        return self.toks[k].text if k >= 0 else ""

    def _prev_words(self, i: int, count: int) -> list[str]:
        return [tok.text for tok in self.toks[max(0, i - count) : i]]

    def _half_at(self, j: int) -> bool:
        """Whether "y medio" / "y media" starts at token ``j``."""
        return self._word(j) == "y" and self._word(j + 1) in ("medio", "media")

    def _unit_word(self, j: int) -> int | None:
        """The value 1-9 of a unit word at ``j`` continuing the phrase, else ``None``."""
        entry = _WORDS.get(self._word(j))
        if entry is not None and entry[0] == "unit" and 1 <= entry[1] <= 9:
            return entry[1]
        return None

    # ---- top level

    def scan(self) -> list[_Found]:
        found: list[_Found] = []
        i = 0
        while i < len(self.toks):
            item, i = self._match_at(i)
            if item is not None:
                found.append(item)
        return found

    def _match_at(self, i: int) -> tuple[_Found | None, int]:
        """The match starting at token ``i`` (or ``None``) and the index of the next token to look at."""
        tok = self.toks[i]
        if tok.text == "$":
            phrase = self._parse_phrase(i + 1) if self._is_joined(i + 1) else None
            return self._build(phrase, i) if phrase is not None else (None, i + 1)
        solo = self._solo_workers(i)
        if solo is not None:
            return solo, i + 2
        if self._is_rut(i):
            return None, i + 2
        phrase = self._parse_phrase(i)
        if phrase is not None:
            return self._build(phrase, None)
        return self._bare_unit(i)

    def _found(
        self, entity: _Entity, amount: Fraction, first: int, last: int, role: str | None = None, count: int = -1
    ) -> _Found:
        value = _round(amount)
        start, end = self.toks[first].start, self.toks[last].end
        return _Found(entity, value, start, end, role, value if count < 0 else count)

    # ---- phrases

    def _parse_phrase(self, i: int) -> _Phrase | None:
        acc = _Acc()
        classes: list[str] = []
        grouped = False
        j = i
        while j < len(self.toks) and (j == i or self.joined[j]):
            step = self._step(acc, j)
            if step is None:
                break
            size, cls, step_grouped = step
            classes.append(cls)
            grouped = grouped or step_grouped
            j += size
        if not classes:
            return None
        return self._make_phrase(acc, classes, i, j - 1, grouped)

    def _make_phrase(self, acc: _Acc, classes: list[str], first: int, last: int, grouped: bool) -> _Phrase:
        shape = "words"
        if classes == ["unit"] and self.toks[first].text in _ARTICLES:
            shape = "article"
        elif classes == ["half"]:
            shape = "half"
        elif classes == ["digits"]:
            shape = "digits"
        scale = {"mil": 1000, "millon": 10**6}.get(acc.last, 1)
        money_like = acc.millon_used or (acc.last == "mil" and len(classes) > 1)
        digit_count = sum(c.isdigit() for c in self.toks[first].text) if shape == "digits" else 0
        return _Phrase(acc.value, first, last, scale, shape, money_like, grouped, digit_count)

    def _step(self, acc: _Acc, j: int) -> tuple[int, str, bool] | None:
        """Feed token ``j`` (and maybe the next) to ``acc``; return (tokens used, class, grouped) or ``None``."""
        tok = self.toks[j]
        if tok.kind == "num":
            parsed = _parse_digits(tok.text, self._multiplier_follows(j))
            if parsed is None or not acc.push("digits", parsed[0]):
                return None
            return 1, "digits", parsed[1]
        if tok.text == "y":
            unit = self._unit_word(j + 1) if acc.last == "ten" and self._is_joined(j) else None
            if unit is None:
                return None
            acc.add_after_and(unit)
            return 2, "unit", False
        cls, value = _WORDS.get(tok.text, ("", 0))
        if cls == "prefix":
            return self._step_prefix(acc, j, value)
        if cls == "" or not acc.push(cls, _HALF if cls == "half" else Fraction(value)):
            return None
        return 1, cls, False

    def _step_prefix(self, acc: _Acc, j: int, base: int) -> tuple[int, str, bool] | None:
        """Handle "veinti uno", "dieci seis" written as two words; a lone "veinti" is twenty."""
        unit = self._unit_word(j + 1)
        if unit is not None and acc.push("teen", Fraction(base + unit)):
            return 2, "teen", False
        if base == 20 and acc.push("ten", Fraction(20)):
            return 1, "ten", False
        return None

    def _multiplier_follows(self, j: int) -> bool:
        word = self._word(j + 1)
        return word in _MONEY_UNITS or word == "m" or _WORDS.get(word, ("", 0))[0] in ("mil", "millon")

    # ---- units and classification

    def _unit_at(self, j: int) -> _Unit | None:
        """A money or duration unit continuing the phrase at token ``j``."""
        if not self._is_joined(j):
            return None
        tok = self.toks[j]
        if tok.text == "$":
            return _Unit("money", Fraction(1), 1, False)
        word = self._word(j)
        if word in _MONEY_UNITS:
            return _Unit("money", Fraction(_MONEY_UNITS[word]), 1, True)
        if word == "m" and self.text[self.index[tok.start]] == "M":
            return _Unit("money", Fraction(10**6), 1, True)
        if word in _PESO_WORDS:
            return _Unit("money", Fraction(1), 1, False)
        if word == "de" and self._word(j + 1) in _PESO_WORDS:
            return _Unit("money", Fraction(1), 2, False)
        if word in _DURATION_UNITS:
            return _Unit("duration", _DURATION_UNITS[word], 1, True)
        return None

    def _build(self, phrase: _Phrase, dollar: int | None) -> tuple[_Found | None, int]:
        value = phrase.value
        j = phrase.last + 1
        halved = phrase.scale > 1 and self._half_at(j)
        if halved:  # "un millón y medio", "dos mil y medio"
            value += Fraction(phrase.scale, 2)
            j += 2
        unit = self._unit_at(j)
        if unit is not None and dollar is not None and unit.entity != "money":
            unit = None
        if unit is not None:
            j += unit.size
            if unit.scaling and not halved and self._half_at(j):  # "un palo y medio", "dos años y medio"
                value += _HALF
                j += 2
        first = phrase.first if dollar is None else dollar
        if dollar is not None or (unit is not None and unit.entity == "money"):
            factor = unit.factor if unit is not None else Fraction(1)
            return self._found("money", value * factor, first, j - 1, count=_round(value)), j
        if unit is not None:
            return self._duration(phrase, value, unit, j)
        if phrase.money_like:
            return self._found("money", value, first, j - 1), j
        return self._plain(phrase, value, j)

    def _duration(self, phrase: _Phrase, value: Fraction, unit: _Unit, j: int) -> tuple[_Found | None, int]:
        """Classify "N años" as a duration, except "tengo 52 años" / "52 años de edad", which is an age.

        "en un mes vendo 900 lucas" names the period of a rate: no duration (unless a duration is asked for).
        """
        if (
            not self.prefer_duration
            and phrase.shape == "article"
            and self._prev_word(phrase.first, skip=False) in _RATE_BEFORE
        ):
            return None, j
        if not self.prefer_duration and unit.factor == 12 and self._is_age(phrase.first, value, j):
            j += self._edad_suffix(j)
            return self._found("number", value, phrase.first, j - 1, role="age"), j
        return self._found("duration", value * unit.factor, phrase.first, j - 1, count=_round(value)), j

    def _edad_suffix(self, j: int) -> int:
        return 2 if self._word(j) == "de" and self._word(j + 1) == "edad" else 0

    def _is_age(self, first: int, value: Fraction, j: int) -> bool:
        if value.denominator != 1 or not _AGE_MIN <= value <= _AGE_MAX:
            return False
        if self._edad_suffix(j) or self._word(j) in ("cumplidos", "cumplidas"):
            return True
        if self._prev_word(first, skip=True) not in _AGE_VERBS:
            return False
        follower = self._word(j)
        return not (follower in _DURATION_FOLLOWERS or follower.endswith(("ando", "iendo", "yendo")))

    def _plain(self, phrase: _Phrase, value: Fraction, j: int) -> tuple[_Found | None, int]:
        """A number with no unit: drop lone articles and "medio", then look for a role or a sales context."""
        if phrase.shape == "half" or (phrase.shape == "article" and not self.keep_articles):
            return None, j
        if self._is_idiom(phrase, value, j):
            return None, j
        percent = self._percent_suffix(j)
        if percent:
            role = "rsh" if value <= 100 else None
            return self._found("number", value, phrase.first, j + percent - 1, role=role), j + percent
        role = self._role(phrase.first, value, j)
        if role is None and self._is_money_amount(phrase, value, j):
            return self._found("money", value, phrase.first, j - 1), j
        return self._found("number", value, phrase.first, j - 1, role=role), j

    def _is_idiom(self, phrase: _Phrase, value: Fraction, j: int) -> bool:
        """ "quiero partir de cero", "empezar desde 0", "mil gracias": a lone word that counts nothing."""
        if phrase.first != phrase.last:
            return False
        if value == 0:
            before = self._prev_word(phrase.first, skip=False)
            return before in _FROM_SCRATCH_BEFORE and self._word(j) not in _RANGE_AFTER
        return self.toks[phrase.first].text == "mil" and self._word(j) in _MIL_IDIOMS

    def _percent_suffix(self, j: int) -> int:
        if self._is_joined(j) and self.toks[j].text == "%":
            return 1
        word = self._word(j)
        if word == "porciento":
            return 1
        return 2 if word in ("por", "x") and self._word(j + 1) == "ciento" else 0

    def _role(self, first: int, value: Fraction, j: int) -> str | None:
        if value.denominator != 1:
            return None
        if self._is_rsh(first, value):
            return "rsh"
        if self._is_workers(first, j):
            return "workers"
        if _AGE_MIN <= value <= _AGE_MAX and (
            self._prev_word(first, skip=True) in _BIRTHDAY_VERBS or "edad" in self._prev_words(first, 3)
        ):
            return "age"
        return None

    def _is_rsh(self, first: int, value: Fraction) -> bool:
        """Match "tramo 40", "tramo del 40", "percentil 60", or "el 40" when 40 is an RSH bracket."""
        prev = self._prev_index(first, skip=False)
        if prev < 0 or value > 100:
            return False
        word = self.toks[prev].text
        if word in _RSH_WORDS:
            return True
        if word in ("del", "de", "el") and self._prev_word(prev, skip=False) in _RSH_WORDS:
            return True
        return word == "el" and value in _RSH_TRAMOS

    def _is_workers(self, first: int, j: int) -> bool:
        if self._prev_word(first, skip=True) in _WORKER_VERBS:
            return True
        return self._word(j) in _WORKER_NOUNS and self._prev_word(first, skip=False) not in ("a", "para")

    def _is_money_amount(self, phrase: _Phrase, value: Fraction, j: int) -> bool:
        """A bare amount that is money: "1.500.000", "1500000", or >= 1000 after "vendo" / before "al mes"."""
        if value.denominator != 1 or value < 1000:
            return False
        if phrase.shape == "digits" and value >= 10_000 and (phrase.grouped or phrase.digit_count <= 7):
            return True
        if 1900 <= value <= 2100 and self._prev_word(phrase.first, skip=False) in _YEAR_MARKERS:
            return False
        if any(word.startswith(_SALES_STEMS) for word in self._prev_words(phrase.first, 4)):
            return True
        after = self._word(j)
        return after in _SALES_AFTER or (after, self._word(j + 1)) in _SALES_AFTER_PAIRS

    # ---- special forms

    def _solo_workers(self, i: int) -> _Found | None:
        """Match "solo yo", "yo sola", "trabajo sola": one worker. Not when others follow ("solo yo y mi hija")."""
        if self.toks[i].kind != "word" or not self._is_joined(i + 1):
            return None
        pair = (self.toks[i].text, self.toks[i + 1].text)
        if pair not in _SOLO_PAIRS:
            return None
        after = self._word(i + 2)
        if after in ("y", "e", "con", "mas"):
            return None
        if pair in _AMBIGUOUS_SOLO and self._is_joined(i + 2) and after not in ("nomas", "no"):
            return None
        return self._found("number", Fraction(1), i, i + 1, role="workers")

    def _is_rut(self, i: int) -> bool:
        """A Chilean RUT ("12.345.678-9") is neither a number nor money: skip it and its check digit."""
        tok = self.toks[i]
        if tok.kind != "num" or i + 1 >= len(self.toks):
            return False
        nxt = self.toks[i + 1]
        return self.norm[tok.end : nxt.start] == "-" and (nxt.text == "k" or (nxt.kind == "num" and len(nxt.text) == 1))

    def _bare_unit(self, i: int) -> tuple[_Found | None, int]:
        """Match "año y medio", "mes y medio", "luca y media": one unit and a half, with no number before."""
        word = self.toks[i].text
        if self.toks[i].kind != "word" or not self._half_at(i + 1):
            return None, i + 1
        if word in _DURATION_UNITS:
            return self._found("duration", 3 * _HALF * _DURATION_UNITS[word], i, i + 2, count=2), i + 3
        if word in _MONEY_UNITS:
            return self._found("money", 3 * _HALF * _MONEY_UNITS[word], i, i + 2, count=2), i + 3
        return None, i + 1


# ----------------------------------------------------------------------------------------------- finalisation


def _original_span(scanner: _Scanner, item: _Found) -> tuple[int, int]:
    """Map normalised offsets back to the original text, keeping trailing combining marks in the span."""
    text = scanner.text
    start = scanner.index[item.start]
    end = scanner.index[item.end - 1] + 1
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1
    return start, end


def _joins_durations(gap: str) -> bool:
    """Whether "2 años y 6 meses", "2 años, 6 meses", "2 años 6 meses" form one duration."""
    if len(gap) > 12:
        return False
    return " ".join(gap.lower().replace(",", " , ").split()) in ("", ",", "y", ", y")


def _finish(scanner: _Scanner, found: list[_Found]) -> list[tuple[NumberMatch, int]]:
    """Original offsets, merged consecutive durations, and no overlaps: (match, count) pairs."""
    out: list[tuple[NumberMatch, int]] = []
    for item in found:
        start, end = _original_span(scanner, item)
        match = NumberMatch(item.entity, item.value, start, end, item.role)
        if out:
            prev, prev_count = out[-1]
            if start < prev.end:
                continue
            if prev.entity == match.entity == "duration" and _joins_durations(scanner.text[prev.end : start]):
                out[-1] = (NumberMatch("duration", prev.value + match.value, prev.start, end), prev_count)
                continue
        out.append((match, item.units))
    return out


def _scan(text: str, *, keep_articles: bool = False, prefer_duration: bool = False) -> list[tuple[NumberMatch, int]]:
    scanner = _Scanner(text, keep_articles=keep_articles, prefer_duration=prefer_duration)
    return _finish(scanner, scanner.scan())


# ------------------------------------------------------------------------------------------------------ public


def find_numbers(text: str) -> list[NumberMatch]:
    """Every number, money amount and duration in ``text``, left to right, non-overlapping.

    A lone article ("un almacén") and a lone "medio" are not numbers. "tengo 52 años" is a ``number`` with
    role ``age`` (ages 15-110 after "tengo"/"cumplí"/"edad", or followed by "de edad"), not a duration.
    """
    return [match for match, _ in _scan(text)]


def parse_money(text: str) -> int | None:
    """An amount of pesos in ``text``: "800 lucas" -> 800000, "$1.500.000" -> 1500000.

    The first money match wins; failing that, the first plain number without a role is read as pesos
    ("800000" -> 800000). ``None`` when there is neither.
    """
    found = [match for match, _ in _scan(text)]
    for match in found:
        if match.entity == "money":
            return match.value
    for match in found:
        if match.entity == "number" and match.role is None:
            return match.value
    return None


def parse_duration_months(text: str) -> int | None:
    """A duration in whole months: "hace 4 años" -> 48, "año y medio" -> 18, "2 semanas" -> 0.

    The caller asked for a duration, so "tengo 20 años" counts as 240 months here. A bare number without
    a unit ("4") is ambiguous and gives ``None``.
    """
    for match, _ in _scan(text, prefer_duration=True):
        if match.entity == "duration":
            return match.value
    return None


def parse_number(text: str) -> int | None:
    """The first number in ``text``: "cinco" -> 5, "veintidos" -> 22, "1.500" -> 1500.

    A lone "uno"/"un"/"una" counts as 1 only when ``text`` holds no other number.

    Money gives pesos ("800 lucas" -> 800000); a duration or an age gives its count ("52 años" -> 52).
    Decimals round half up ("1,5" -> 2). ``None`` when there is no number.
    """
    found = _scan(text) or _scan(text, keep_articles=True)
    if not found:
        return None
    match, count = found[0]
    return count if match.entity == "duration" else match.value
