"""alerts.yaml: rules and notifiers, loaded with every problem reported as ``file:line:col``.

Loading goes in four steps, each reporting all it finds before giving up:

1. YAML to plain values with positions (:mod:`monitor.yamlpos`); ``${VAR}`` and
   ``${VAR:-default}`` are then filled into string values only, so the environment can
   never inject YAML structure and positions stay exact (``$${`` is a literal ``${``).
2. ``include:`` pulls in rule packs, relative to the including file. Included rules come
   first, in include order, then the file's own rules, so a clash with a pack is
   reported in the user's own file.
3. Each section and each rule is validated by its own frozen pydantic model, so one bad
   rule does not hide the problems of the next.
4. Cross-checks between fields and sections; then defaults are applied and every
   :class:`Rule` comes out concrete, ready to evaluate.

Messages never echo a value that came from the environment, nor the value of a secret
field: they name the place and the rule broken, not the input.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from monitor import yamlpos
from monitor.config.checks import CrossChecks
from monitor.config.reporting import History, ReportSpec
from monitor.config.schema import (
    DEFAULT_INHIBIT,
    METRICS,
    Config,
    Defaults,
    Delivery,
    Export,
    FieldPath,
    Heartbeat,
    InhibitRule,
    Links,
    MuteWindow,
    Notifier,
    NotifierName,
    OverviewMetric,
    Poll,
    Rule,
    SyncFailing,
    _RuleSpec,
    _SyncFailingSpec,
    implied,
)
from monitor.config.slos import Slo
from monitor.errors import ConfigError
from monitor.yamlpos import Loc, Mark, Positions, Problem

_SECTIONS: Final[dict[str, Any]] = {
    "links": Links,
    "poll": Poll,
    "export": Export,
    "overview_fields": dict[OverviewMetric, FieldPath],
    "notifiers": dict[NotifierName, Notifier],
    "delivery": Delivery,
    "mute": tuple[MuteWindow, ...],
    "inhibit": tuple[InhibitRule, ...],
    "heartbeat": Heartbeat,
    "defaults": Defaults,
    "sync_failing": _SyncFailingSpec,
    "history": History,
    "reports": tuple[ReportSpec, ...],
    "slos": tuple[Slo, ...],
}
_TOP_KEYS: Final = (*_SECTIONS, "rules", "include")
_PACK_KEYS: Final = ("rules", "include")
_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {k: TypeAdapter(t) for k, t in _SECTIONS.items()}
_RULE_ADAPTER: Final = TypeAdapter(_RuleSpec)
_RESOLVED_ADAPTER: Final = TypeAdapter(Rule)
#: The files being included, outermost first: (resolved path, path as shown).
_Stack = tuple[tuple[Path, Path], ...]


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, check and resolve a config file.

    Args:
        path: the file; messages show it as given.
        env: where ``${VAR}`` is looked up; ``os.environ`` when None.

    Raises:
        ConfigError: with every problem found, each ``file:line:col: message``.
    """
    loader = _Loader(os.environ if env is None else env)
    config = loader.load(Path(path))
    if loader.problems or config is None:
        raise ConfigError(loader.report())
    return config


@dataclass
class _Loader(CrossChecks):
    env: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # in load order, to sort problems
    included: dict[Path, Mark] = field(default_factory=dict)
    env_problems: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    pos: Positions = field(default_factory=Positions)

    def report(self) -> list[str]:
        order = {f: i for i, f in enumerate(self.files)}

        def key(p: Problem) -> tuple[int, int, int]:
            if p.mark is None:
                return (order.get(p.file, 0), 0, 0)
            return (order.get(p.mark.file, len(order)), p.mark.line, p.mark.col)

        # A value whose ${VAR} is missing gets that one problem, not also "expected a URL".
        broken = {p.mark for p in self.env_problems}
        kept = [p for p in self.problems if p.mark not in broken or p in self.env_problems]
        return list(dict.fromkeys(str(p) for p in sorted(kept, key=key)))

    # -- files -----------------------------------------------------------------------

    def load(self, path: Path) -> Config | None:
        top = self._read(path, at=None)
        if top is None:
            return None
        data, pos = top
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self._at(
                pos.values[()], "expected a mapping of sections (notifiers, defaults, rules...)"
            )
            return None
        for key in data:
            # x-anything holds YAML anchors to reuse, as in Compose files; it is ignored.
            if key not in _TOP_KEYS and not key.startswith("x-"):
                self._unknown_key(pos.keys[(key,)], key, _TOP_KEYS)
        # An empty section (every entry commented out) means the section's defaults.
        data = {k: v for k, v in data.items() if v is not None and k in _TOP_KEYS}
        rules, rule_pos = self._rules_of(data, pos, path, stack=((path.resolve(), path),))
        self.data = {k: v for k, v in data.items() if k not in _PACK_KEYS}
        self.data["rules"] = rules

        def outside_rules(loc: Loc) -> bool:
            return loc[:1] != ("rules",) or len(loc) == 1

        self.pos = Positions(
            values={k: v for k, v in pos.values.items() if outside_rules(k)},
            keys={k: v for k, v in pos.keys.items() if outside_rules(k)},
            from_env={k for k in pos.from_env if outside_rules(k)},
        )
        self.pos.update(rule_pos)
        return self._validate()

    def _read(self, path: Path, at: Mark | None) -> tuple[Any, Positions] | None:
        """One file as plain values with env filled in; None (problem recorded) if unusable."""
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            if at is None:
                self.problems.append(Problem(f"cannot read: {reason}", file=shown))
            else:
                self._at(at, f"cannot read included file {shown}: {reason}")
            return None
        self.files.append(shown)
        try:
            data, pos = yamlpos.load(text, shown)
        except yamlpos.YamlError as exc:
            self.problems.extend(exc.problems)
            return None
        data, problems = yamlpos.fill_env(data, pos, self.env)
        self.problems += problems
        self.env_problems += problems
        return data, pos

    def _rules_of(
        self, data: dict[str, Any], pos: Positions, path: Path, stack: _Stack
    ) -> tuple[list[Any], Positions]:
        """Rules of the included packs, then this file's own, with positions re-filed."""
        rules: list[Any] = []
        out = Positions()

        def append(items: list[Any], src: Positions) -> None:
            for i, item in enumerate(items):
                out.update(src.moved(("rules", i), ("rules", len(rules))))
                rules.append(item)

        includes = data.get("include")
        if includes is not None and not isinstance(includes, list):
            self._at(pos.values[("include",)], "expected a list of file paths")
            includes = None
        for i, entry in enumerate(includes or []):
            mark = pos.values[("include", i)]
            if not isinstance(entry, str) or not entry.strip():
                self._at(mark, "expected a file path")
                continue
            pack = self._include(path.parent / entry, mark, stack)
            if pack is not None:
                append(*pack)
        own = data.get("rules")
        if isinstance(own, list):
            append(own, pos)
        elif own is not None:
            self._at(pos.values[("rules",)], "expected a list of rules")
        return rules, out

    def _include(
        self, joined: Path, mark: Mark, stack: _Stack
    ) -> tuple[list[Any], Positions] | None:
        path = Path(os.path.normpath(joined))
        real = path.resolve()
        reals = [r for r, _ in stack]
        if real in reals:
            names = [str(shown) for _, shown in stack[reals.index(real) :]]
            self._at(mark, f"include cycle: {' -> '.join([*names, str(path)])}")
            return None
        if real in self.included:
            self._at(mark, f"{path} is already included at {self.included[real]}")
            return None
        self.included[real] = mark
        loaded = self._read(path, at=mark)
        if loaded is None:
            return None
        data, pos = loaded
        if data is None:
            return [], pos
        if not isinstance(data, dict):
            self._at(pos.values[()], "a rule pack must be a mapping with a rules: list")
            return None
        for key in data:
            if key not in _PACK_KEYS and not key.startswith("x-"):
                self._at(
                    pos.keys[(key,)],
                    f"an included file may only have rules and include, not {key!r}",
                )
        return self._rules_of(data, pos, path, (*stack, (real, path)))

    # -- validation ------------------------------------------------------------------

    def _validate(self) -> Config | None:
        sections: dict[str, Any] = {}
        for key, adapter in _ADAPTERS.items():
            if key in self.data:
                sections[key] = self._check(adapter, self.data[key], (key,), _SECTIONS[key])
        specs: list[tuple[int, _RuleSpec]] = []
        for i, raw in enumerate(self.data["rules"]):
            spec = self._check(_RULE_ADAPTER, raw, ("rules", i), _RuleSpec)
            if spec is not None:
                specs.append((i, spec))
        failed = {key for key, value in sections.items() if value is None}
        poll: Poll | None = None if "poll" in failed else sections.get("poll", Poll())
        defaults: Defaults | None = (
            None if "defaults" in failed else sections.get("defaults", Defaults())
        )
        raw_notifiers = self.data.get("notifiers", {})
        names = set(raw_notifiers) if isinstance(raw_notifiers, dict) else None
        self._cross_check(specs, poll, defaults, names, sections.get("sync_failing"))
        if self.problems or defaults is None or poll is None:
            return None
        return self._resolve(sections, specs, defaults)

    def _check(self, adapter: TypeAdapter[Any], value: Any, prefix: Loc, root: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self._schema_problem(error, prefix, root)
            return None

    def _schema_problem(self, error: ErrorDetails, prefix: Loc, root: Any) -> None:
        kind = error["type"]
        loc: Loc = prefix + tuple(error["loc"])
        if kind == "union_tag_invalid":
            loc = (*loc, "type")
        mark, known = self._locate(loc, key=kind in ("extra_forbidden",))
        if kind not in ("missing", "extra_forbidden") and self._has_broken_child(known):
            return  # e.g. "slack needs webhook_url" when ${SLACK_WEBHOOK_URL} is not set
        ctx = error.get("ctx") or {}
        # A discriminated union reports the whole mapping as input; the tag is in ctx.
        shown = self._shown(known, ctx.get("tag", error.get("input")))
        if kind == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif kind == "union_tag_not_found":
            message = "missing required key 'type'"
        elif kind == "extra_forbidden":
            at = [el for el in error["loc"][:-1] if el != "[key]"]
            self._unknown_key(mark, str(loc[-1]), _fields_at(root, at))
            return
        elif kind == "union_tag_invalid":
            message = f"unknown notifier type{' ' + shown if shown else ''}; expected one of: "
            message += ctx.get("expected_tags", "").replace("'", "")
        elif kind == "unknown_metric":
            message = _unknown("metric", shown, error.get("input"), METRICS)
        else:
            message = _MESSAGES.get(kind, "") or _bound_message(kind, ctx) or error["msg"]
        self._at(mark, message)

    def _locate(self, loc: Loc, key: bool = False) -> tuple[Mark, Loc]:
        return yamlpos.locate(self.data, self.pos, loc, key=key)

    def _has_broken_child(self, loc: Loc) -> bool:
        broken = {p.mark for p in self.env_problems}
        return any(mark in broken for where, mark in self.pos.values.items() if where[:-1] == loc)

    def _unknown_key(self, mark: Mark, key: str, valid: Sequence[str]) -> None:
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, valid, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        self._at(mark, message)

    # -- resolution ------------------------------------------------------------------

    def _resolve(
        self, sections: dict[str, Any], specs: list[tuple[int, _RuleSpec]], defaults: Defaults
    ) -> Config | None:
        sync: _SyncFailingSpec = sections.get("sync_failing") or _SyncFailingSpec()
        rules = []
        for i, spec in specs:
            resolved = _resolve_rule(spec, defaults)
            resolved["source_location"] = str(self.pos.values[("rules", i)])
            rule = self._check(_RESOLVED_ADAPTER, resolved, ("rules", i), Rule)
            if rule is not None:
                rules.append(rule)
        if self.problems:
            return None
        return Config(
            links=sections.get("links") or Links(),
            poll=sections.get("poll") or Poll(),
            export=sections.get("export") or Export(),
            overview_fields=sections.get("overview_fields") or {},
            notifiers=sections.get("notifiers") or {},
            delivery=sections.get("delivery") or Delivery(),
            mute=sections.get("mute") or (),
            inhibit=sections.get("inhibit", DEFAULT_INHIBIT),
            heartbeat=sections.get("heartbeat"),
            defaults=defaults,
            sync_failing=SyncFailing(
                after=sync.after,
                severity=sync.severity,
                notify=defaults.notify if sync.notify is None else sync.notify,
                enabled=sync.enabled,
            ),
            rules=tuple(rules),
            history=sections.get("history") or History(),
            reports=sections.get("reports") or (),
            slos=sections.get("slos") or (),
        )


def _resolve_rule(spec: _RuleSpec, defaults: Defaults) -> dict[str, Any]:
    """The keyword arguments of a :class:`Rule`: the spec with every gap filled."""
    written = spec.model_dump(by_alias=False, exclude={"repeat"})
    data = implied({k: v for k, v in written.items() if v is not None}, defaults)
    return data | {
        "window": spec.window or defaults.window,
        "exclude_trunks": spec.exclude_trunks or (),
        "for_": defaults.for_ if spec.for_ is None else spec.for_,
        "repeat": spec.repeat if "repeat" in spec.model_fields_set else defaults.repeat,
        "notify": defaults.notify if spec.notify is None else spec.notify,
        "no_data": spec.no_data or defaults.no_data,
    }


_MESSAGES: Final = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def _bound_message(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    words = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">=")}
    words |= {"less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
    if kind in words:
        name, op = words[kind]
        return f"must be {op} {ctx.get(name)}"
    return ""


def _unknown(what: str, shown: str, value: Any, valid: Sequence[str]) -> str:
    message = f"unknown {what}{' ' + shown if shown else ''}"
    if shown and isinstance(value, str):
        close = difflib.get_close_matches(value, valid, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return f"{message} (valid: {', '.join(valid)})"


def _fields_at(root: Any, path: Sequence[Any]) -> list[str]:
    """Keys valid at ``path`` below type ``root``, to suggest one for a misspelt key."""
    tp = root
    for el in path:
        tp = _step(tp, el)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _step(tp: Any, el: Any) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if el in (name, info.alias):
                return info.annotation
        return None
    if origin in (Union, UnionType):  # the notifier union: the tag names the member
        for member in get_args(tp):
            member = _unwrap(member)
            fields = getattr(member, "model_fields", {})
            if "type" in fields and el in get_args(fields["type"].annotation):
                return member
        return None
    if origin is dict:
        return get_args(tp)[1]
    if origin in (list, tuple):
        return get_args(tp)[0]
    return None
