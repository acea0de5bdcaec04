"""Load and cross-check the knowledge base's YAML files, reporting every problem with its file and field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from knowledge.base import KnowledgeBase
from knowledge.facts import FACTS
from knowledge.models import (
    Agency,
    Call,
    ClassificationRule,
    Commune,
    Criterion,
    GlossaryTerm,
    Instrument,
    LessonPath,
    Office,
    Parameter,
    ParamRef,
    Rules,
    Sector,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "KnowledgeBaseError",
    "KnowledgeFiles",
    "Problem",
    "load_knowledge_base",
    "read_directory",
    "validate_files",
    "validate_knowledge_base",
]

DEFAULT_DATA_DIR = Path(__file__).parent / "data"
_INSTRUMENT_FILE = re.compile(r"^instruments/[^/]+\.yml$")
REQUIRED_PARAMETERS = ("uf_clp", "size_micro_max_uf", "size_small_max_uf", "size_medium_max_uf")
M = TypeVar("M", bound=BaseModel)
_SINGULAR = {
    "agencies": "agency",
    "sectors": "sector",
    "communes": "commune",
    "offices": "office",
    "instruments": "instrument",
    "parameters": "parameter",
}

try:  # the C loader is several times faster when PyYAML was built with libyaml
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Problem:
    """One problem in the data: `file: path.to.field: message`."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class KnowledgeBaseError(Exception):
    """The knowledge base has problems; `problems` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


KnowledgeFiles = Mapping[str, bytes]
"""A knowledge base as its data files: relative path (`offices.yml`, `instruments/corfo.yml`) -> file content."""


def read_directory(root: Path = DEFAULT_DATA_DIR) -> dict[str, bytes]:
    """The data files under `root` (top-level and instruments/ YAML), as a knowledge base is read from them."""
    paths = [*sorted(root.glob("*.yml")), *sorted((root / "instruments").glob("*.yml"))]
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}


class _Reader:
    """Reads the data files of one knowledge base, collecting problems instead of stopping at the first."""

    def __init__(self, files: KnowledgeFiles) -> None:
        self.files = files
        self.problems: list[Problem] = []
        self.digest = hashlib.sha256()

    def problem(self, file: str, path: str, message: str) -> None:
        self.problems.append(Problem(file, path, message))

    def raw(self, relative: str) -> Any:
        """The parsed YAML of one file, or None (with a problem) when missing or malformed."""
        text = self.files.get(relative)
        if text is None:
            self.problem(relative, "", "cannot read file (No such file or directory)")
            return None
        self.digest.update(relative.encode() + b"\0" + text)
        try:
            return yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            self.problem(relative, "", f"invalid YAML: {' '.join(str(exc).split())}")
            return None

    def models(self, relative: str, model: type[M], raw: Any) -> list[M]:
        """Validate a YAML list of mappings; each error path starts with the item's id (or index)."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(relative, "", f"must be a list of {model.__name__} entries")
            return []
        items: list[M] = []
        for index, item in enumerate(raw):
            label = str(item.get("id", index)) if isinstance(item, dict) else str(index)
            validated = self.model(relative, model, item, label)
            if validated is not None:
                items.append(validated)
        return items

    def model(self, relative: str, model: type[M], raw: Any, label: str = "") -> M | None:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                path = ".".join([label, *_named_location(raw, error["loc"])]).strip(".")
                self.problem(relative, path, error["msg"])
            return None

    def indexed(self, relative: str, items: Iterable[Any], seen: dict[str, str]) -> dict[str, Any]:
        """Index items by id; a duplicate id (here or in another file sharing `seen`) is a problem."""
        index: dict[str, Any] = {}
        for item in items:
            if item.id in seen:
                self.problem(relative, item.id, f"duplicate id (already defined in {seen[item.id]})")
                continue
            seen[item.id] = relative
            index[item.id] = item
        return index


def _named_location(raw: Any, location: tuple[int | str, ...]) -> list[str]:
    """An error's location with each list position named by the id of the item there, when it has one."""
    names = []
    for part in location:
        if isinstance(raw, list) and isinstance(part, int) and 0 <= part < len(raw):
            raw = raw[part]
            named = isinstance(raw, dict) and isinstance(raw.get("id"), str)
            names.append(raw["id"] if named else str(part))
        else:
            raw = raw.get(part) if isinstance(raw, dict) else None
            names.append(str(part))
    return names


def _walk_criteria(criteria: Iterable[Criterion], path: str) -> Iterator[tuple[str, Criterion]]:
    for index, criterion in enumerate(criteria):
        here = f"{path}.{index}"
        yield here, criterion
        if criterion.any_of:
            yield from _walk_criteria(criterion.any_of, f"{here}.any_of")
        if criterion.all_of:
            yield from _walk_criteria(criterion.all_of, f"{here}.all_of")


class _CrossChecker:
    """Checks references between files once every file has been read."""

    def __init__(self, reader: _Reader, kb: dict[str, Any]) -> None:
        self.reader = reader
        self.kb = kb

    def ref(self, file: str, path: str, kind: str, value: str | None) -> None:
        if value is not None and value not in self.kb[kind]:
            self.reader.problem(file, path, f"unknown {_SINGULAR[kind]} {value!r}")

    def criteria(self, file: str, path: str, criteria: Iterable[Criterion]) -> None:
        for here, criterion in _walk_criteria(criteria, path):
            if criterion.fact is not None and criterion.fact not in FACTS:
                self.reader.problem(file, f"{here}.fact", f"unknown fact {criterion.fact!r}")
            self.ref(file, f"{here}.prerequisite", "instruments", criterion.prerequisite)
            for bound in (criterion.gte, criterion.gt, criterion.lte, criterion.lt):
                if isinstance(bound, ParamRef):
                    self.ref(file, here, "parameters", bound.param)
            if criterion.fact in {"sector", "commune"}:
                values = [criterion.eq, criterion.ne, *(criterion.in_ or []), *(criterion.not_in or [])]
                for value in values:
                    if value is not None:
                        self.ref(file, here, f"{criterion.fact}s", str(value))

    def instruments(self, files: dict[str, str]) -> None:
        for instrument in self.kb["instruments"].values():
            file = files[instrument.id]
            self.ref(file, f"{instrument.id}.agency", "agencies", instrument.agency)
            for index, office in enumerate(instrument.offices):
                self.ref(file, f"{instrument.id}.offices.{index}", "offices", office)
            self.criteria(file, f"{instrument.id}.criteria", instrument.criteria)

    def offices(self, file: str) -> None:
        for office in self.kb["offices"].values():
            self.ref(file, f"{office.id}.agency", "agencies", office.agency)
            self.ref(file, f"{office.id}.commune", "communes", office.commune)
            for index, commune in enumerate(office.serves):
                self.ref(file, f"{office.id}.serves.{index}", "communes", commune)
        agencies_with_instruments = {i.agency for i in self.kb["instruments"].values()}
        for agency in sorted(agencies_with_instruments & set(self.kb["agencies"])):
            served = {c for o in self.kb["offices"].values() if o.agency == agency for c in o.serves}
            for commune in self.kb["communes"]:
                if commune not in served:
                    self.reader.problem(file, agency, f"no office of {agency} serves commune {commune!r}")

    def communes(self, file: str) -> None:
        for commune in self.kb["communes"].values():
            for index, row in enumerate(commune.sectors):
                self.ref(file, f"{commune.id}.sectors.{index}.sector", "sectors", row.sector)

    def calls(self, file: str, calls: list[Call]) -> None:
        for index, call in enumerate(calls):
            instrument = self.kb["instruments"].get(call.instrument)
            if instrument is None:
                self.reader.problem(file, f"{index}.instrument", f"unknown instrument {call.instrument!r}")
            elif instrument.availability != "calls":
                self.reader.problem(
                    file,
                    f"{index}.instrument",
                    f"{call.instrument} has availability {instrument.availability!r}",
                )

    def lessons(self, file: str, path: LessonPath) -> None:
        """The instruments and offices named exist; the instruments shown after the lessons serve their audience."""
        for index, instrument in enumerate(path.instruments):
            self.ref(file, f"instruments.{index}", "instruments", instrument)
            self._serves_audience(file, f"instruments.{index}", instrument, path)
        for lesson in path.lessons:
            for index, instrument in enumerate(lesson.instruments):
                self.ref(file, f"lessons.{lesson.id}.instruments.{index}", "instruments", instrument)
            for index, office in enumerate(lesson.offices):
                self.ref(file, f"lessons.{lesson.id}.offices.{index}", "offices", office)

    def _serves_audience(self, file: str, path: str, instrument_id: str, lessons: LessonPath) -> None:
        instrument = self.kb["instruments"].get(instrument_id)
        wanted = lessons.audience.stages
        if instrument is not None and wanted and not set(instrument.stages) & set(wanted):
            self.reader.problem(
                file,
                path,
                f"{instrument_id} is for stages {', '.join(instrument.stages)}, none of the audience's"
                f" ({', '.join(wanted)})",
            )

    def rules(self, file: str, rules: Rules) -> None:
        self._classification(
            file, "segment", rules.segment, {"subsistence", "simple_accumulation", "extended_accumulation"}
        )
        self._classification(file, "stage", rules.stage, {"conception", "initiation", "growth", "consolidation"})
        for index, required in enumerate(rules.route_required):
            self.ref(file, f"route_required.{index}.instrument", "instruments", required.instrument)
            self.criteria(file, f"route_required.{index}.when", required.when)
        for name in REQUIRED_PARAMETERS:
            self.ref("parameters.yml", name, "parameters", name)

    def _classification(self, file: str, name: str, rules: list[ClassificationRule], allowed: set[str]) -> None:
        for index, rule in enumerate(rules):
            if rule.value not in allowed:
                self.reader.problem(file, f"{name}.{index}.value", f"must be one of {sorted(allowed)}")
            self.criteria(file, f"{name}.{index}.when", rule.when)


def _read_all(files: KnowledgeFiles) -> tuple[_Reader, dict[str, Any], list[Call], Rules | None, dict[str, str]]:
    reader = _Reader(files)
    seen: dict[str, str] = {}
    kb: dict[str, Any] = {}
    for kind, model in (
        ("agencies", Agency),
        ("sectors", Sector),
        ("communes", Commune),
        ("glossary", GlossaryTerm),
        ("offices", Office),
    ):
        file = f"{kind}.yml"
        kb[kind] = reader.indexed(file, reader.models(file, model, reader.raw(file)), {})
    kb["instruments"] = {}
    instrument_files: dict[str, str] = {}
    instrument_files_read = sorted(name for name in files if _INSTRUMENT_FILE.match(name))
    if not instrument_files_read:
        reader.problem("instruments/", "", "no instrument files (instruments/*.yml)")
    for file in instrument_files_read:
        found = reader.indexed(file, reader.models(file, Instrument, reader.raw(file)), seen)
        kb["instruments"].update(found)
        instrument_files.update(dict.fromkeys(found, file))
    raw_parameters = reader.raw("parameters.yml") or {}
    if not isinstance(raw_parameters, dict):
        reader.problem("parameters.yml", "", "must be a mapping of parameter name to parameter")
        raw_parameters = {}
    kb["parameters"] = {
        name: parameter
        for name, raw in raw_parameters.items()
        if (parameter := reader.model("parameters.yml", Parameter, raw, str(name))) is not None
    }
    raw_lessons = reader.raw("lessons.yml")
    kb["lessons"] = None if raw_lessons is None else reader.model("lessons.yml", LessonPath, raw_lessons)
    calls = reader.models("calls.yml", Call, reader.raw("calls.yml"))
    rules = reader.model("rules.yml", Rules, reader.raw("rules.yml"))
    return reader, kb, calls, rules, instrument_files


def validate_knowledge_base(root: Path = DEFAULT_DATA_DIR) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Read every data file under `root`; return the knowledge base (None if invalid) and all problems."""
    return validate_files(read_directory(root))


def validate_files(files: KnowledgeFiles) -> tuple[KnowledgeBase | None, list[Problem]]:
    """The knowledge base held by `files` (None if invalid) and all problems; its version is their digest."""
    reader, kb, calls, rules, instrument_files = _read_all(files)
    checker = _CrossChecker(reader, kb)
    checker.instruments(instrument_files)
    checker.offices("offices.yml")
    checker.communes("communes.yml")
    checker.calls("calls.yml", calls)
    if rules is not None:
        checker.rules("rules.yml", rules)
    if kb["lessons"] is not None:
        checker.lessons("lessons.yml", kb["lessons"])
    if reader.problems or rules is None:
        return None, reader.problems
    calls_by_instrument: dict[str, list[Call]] = {}
    for call in sorted((call for call in calls if not call.cancelled), key=lambda call: call.closes):
        calls_by_instrument.setdefault(call.instrument, []).append(call)
    base = KnowledgeBase(
        agencies=kb["agencies"],
        sectors=kb["sectors"],
        communes=kb["communes"],
        offices=kb["offices"],
        instruments=kb["instruments"],
        calls=calls_by_instrument,
        parameters=kb["parameters"],
        rules=rules,
        glossary=kb["glossary"],
        lessons=kb["lessons"],
        version=reader.digest.hexdigest()[:12],
    )
    return base, []


@cache
def load_knowledge_base(root: Path = DEFAULT_DATA_DIR) -> KnowledgeBase:
    """The validated knowledge base under `root` (cached); raises KnowledgeBaseError listing every problem."""
    base, problems = validate_knowledge_base(root)
    if base is None:
        raise KnowledgeBaseError(problems)
    return base
