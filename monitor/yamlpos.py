"""YAML with positions: plain Python values plus where each one was written.

PyYAML's constructors throw away file positions, and every config error must name
``file:line:col``. So we only let PyYAML compose the node tree (safe loader: no
arbitrary objects) and build plain values ourselves, recording the position of every
value and of every mapping key under a *location*: the tuple of keys and indexes that
leads to it, e.g. ``("rules", 0, "window")``.

Only the YAML core types are built (mappings, sequences, strings, numbers, booleans,
null); any other tag is an error. Mapping keys are kept as the text written, so
``yes:`` or ``1:`` stay the strings ``"yes"`` and ``"1"``. Duplicate keys are errors;
anchors, aliases and ``<<`` merge keys work as in YAML 1.1.

Two helpers work on the result: :func:`fill_env` fills ``${VAR}`` into string values
(after parsing, so positions stay exact), and :func:`locate` turns the location of a
validation error back into a position in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Where a value sits in the document: mapping keys and sequence indexes from the root.
Loc = tuple[str | int, ...]

_CORE: Final = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset(_CORE + t for t in ("null", "bool", "int", "float", "str"))
_MERGE_TAG: Final = _CORE + "merge"
#: Expanding aliases can multiply a small file into a huge tree ("billion laughs").
MAX_VALUES: Final = 100_000


@dataclass(frozen=True, slots=True, order=True)
class Mark:
    """A position in a file; line and column are 1-based, as editors count them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, at a place when we know it."""

    message: str
    mark: Mark | None = None
    file: str = ""

    def __str__(self) -> str:
        if self.mark is None:
            return f"{self.file}: {self.message}"
        return f"{self.mark}: {self.message}"


@dataclass(slots=True)
class Positions:
    """Where each value (``values``) and each mapping key (``keys``) was written.

    ``keys[loc]`` is the position of the key whose value lives at ``loc``.
    ``from_env`` is filled by whoever substitutes environment variables.
    """

    values: dict[Loc, Mark] = field(default_factory=dict)
    keys: dict[Loc, Mark] = field(default_factory=dict)
    #: Values that came (in part) from the environment: never to be echoed in messages.
    from_env: set[Loc] = field(default_factory=set)

    def moved(self, old: Loc, new: Loc) -> Positions:
        """The positions under ``old`` re-filed under ``new`` (used when merging files)."""
        out = Positions()
        n = len(old)
        for src, dst in ((self.values, out.values), (self.keys, out.keys)):
            for loc, mark in src.items():
                if loc[:n] == old:
                    dst[new + loc[n:]] = mark
        out.from_env = {new + loc[n:] for loc in self.from_env if loc[:n] == old}
        return out

    def update(self, other: Positions) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)
        self.from_env |= other.from_env


class YamlError(Exception):
    """The text is not YAML we accept; ``problems`` says why and where."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def load(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values and their positions.

    An empty document gives ``None``. Raises :class:`YamlError` with every problem
    found while building values (or the first syntax error, after which YAML cannot
    go on).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise YamlError([_syntax_problem(exc, file)]) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", 0)
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = getattr(exc, "reason", "unreadable text")
        raise YamlError([Problem(f"invalid YAML: {reason}", Mark(file, line, col))]) from None
    positions = Positions()
    if root is None:
        return None, positions
    builder = _Builder(file, positions)
    value = builder.build(root, ())
    if builder.problems:
        raise YamlError(builder.problems)
    return value, positions


def mark_of(node: Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    where = exc.problem_mark or exc.context_mark
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "invalid YAML: " + (": ".join(parts) if parts else "syntax error")
    if where is None:
        return Problem(message, file=file)
    return Problem(message, Mark(file, where.line + 1, where.column + 1))


class _Builder:
    """Turns composed nodes into plain values, recording positions and problems."""

    def __init__(self, file: str, positions: Positions) -> None:
        self.file = file
        self.positions = positions
        self.problems: list[Problem] = []
        self._count = 0
        self._active: set[int] = set()  # nodes being built: an alias back to one is a loop
        # A bare loader gives us PyYAML's own scalar rules (0x10, 1_000, .inf, yes/no...).
        self._scalars = yaml.SafeLoader("")

    def build(self, node: Node, loc: Loc) -> Any:
        self._count += 1
        if self._count == MAX_VALUES:
            self._problem(node, "document too large once aliases are expanded")
        if self._count >= MAX_VALUES:
            return None
        self.positions.values[loc] = mark_of(node, self.file)
        if id(node) in self._active:
            self._problem(node, "an alias refers to a value that contains it")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode):
                return self._sequence(node, loc)
            return self._scalar(node)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any] | None:
        if node.tag != _CORE + "map":
            self._problem(node, f"unsupported tag {_short(node.tag)}")
            return None
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge(value_node, loc, merged))
                continue
            key = self._key(key_node)
            if key is None:
                continue
            key_mark = mark_of(key_node, self.file)
            if key in seen:
                self._problem(key_node, f"duplicate key {key!r} (first at line {seen[key].line})")
                continue
            seen[key] = key_mark
            self.positions.keys[(*loc, key)] = key_mark
            out[key] = self.build(value_node, (*loc, key))
        # Keys written in this mapping win over merged ones, as YAML 1.1 merge says.
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def _merge(self, node: Node, loc: Loc, already: dict[str, Any]) -> dict[str, Any]:
        """Entries that a ``<<`` key brings in; earlier merge sources win, as in YAML 1.1."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                self._problem(source, "a merge key (<<) takes a mapping or a list of mappings")
                continue
            for key_node, value_node in source.value:
                key = self._key(key_node)
                if key is None or key in out or key in already:
                    continue
                self.positions.keys[(*loc, key)] = mark_of(key_node, self.file)
                out[key] = self.build(value_node, (*loc, key))
        return out

    def _key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self._problem(node, "a mapping key must be a plain name, not a list or mapping")
            return None
        if node.tag not in _SCALAR_TAGS:
            self._problem(node, f"unsupported tag {_short(node.tag)}")
            return None
        return str(node.value)

    def _sequence(self, node: SequenceNode, loc: Loc) -> list[Any] | None:
        if node.tag != _CORE + "seq":
            self._problem(node, f"unsupported tag {_short(node.tag)}")
            return None
        return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]

    def _scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):  # the composer yields only three kinds
            raise TypeError(f"unexpected YAML node {type(node).__name__}")
        if node.tag == _CORE + "timestamp":
            return node.value  # dates are not config values; keep the text for the schema
        if node.tag not in _SCALAR_TAGS:
            self._problem(node, f"unsupported tag {_short(node.tag)}")
            return None
        constructor = yaml.SafeLoader.yaml_constructors[node.tag]
        return constructor(self._scalars, node)

    def _problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(message, mark_of(node, self.file)))


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


_ENV_RE: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_BODY_RE: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def fill_env(data: Any, pos: Positions, env: Mapping[str, str]) -> tuple[Any, list[Problem]]:
    """Fill ``${VAR}`` and ``${VAR:-default}`` into string values; ``$${`` is a literal ``${``.

    Done on plain values after parsing, so a variable can never inject YAML structure
    and every position stays exact. ``:-`` takes the default when the variable is unset
    or empty, as in the shell. Locations that received a value from ``env`` are added
    to ``pos.from_env`` so messages never echo them. Returns the filled copy and one
    problem per string that could not be filled.
    """
    problems: list[Problem] = []

    def fill(loc: Loc, text: str) -> str:
        if "${" not in text:
            return text
        out: list[str] = []
        last = 0
        for match in _ENV_RE.finditer(text):
            out.append(text[last : match.start()])
            last = match.end()
            if match.group(0) == "$${":
                out.append("${")
                continue
            body = _ENV_BODY_RE.fullmatch(match.group(1) or "")
            if body is None:
                message = "expected ${NAME} or ${NAME:-default}; write $${ for a literal ${"
                problems.append(Problem(message, pos.values[loc]))
                return text
            name, default = body.group(1), body.group(2)
            value = env.get(name, "")
            if value or (name in env and default is None):
                pos.from_env.add(loc)
                out.append(value)
            elif default is not None:
                out.append(default)
            else:
                message = f"environment variable {name} is not set"
                problems.append(Problem(message, pos.values[loc]))
        out.append(text[last:])
        return "".join(out)

    return map_strings(data, fill), problems


def locate(data: Any, pos: Positions, loc: Sequence[Any], key: bool = False) -> tuple[Mark, Loc]:
    """Where to report a problem found at ``loc``: the longest prefix present in ``data``.

    Returns the value's position (the key's, when ``key`` and the whole ``loc`` exists)
    and the prefix found. pydantic puts a discriminated union's tag (``slack``) and the
    ``[key]`` marker of a dict key into its locations; neither is a place in the file,
    so the tag is stepped over and ``[key]`` points at the key.
    """
    cur: Any = data
    known: Loc = ()
    for el in loc:
        if el == "[key]":
            return pos.keys[known], known
        in_list = isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur)
        if in_list or (isinstance(cur, dict) and el in cur):
            cur = cur[el]
        elif isinstance(cur, dict) and cur.get("type") == el:
            continue
        elif isinstance(cur, list) and isinstance(el, str):
            continue  # e.g. a notify list validated as {warning: [...], critical: [...]}
        else:
            break
        known = (*known, el)
    if key and known in pos.keys:
        return pos.keys[known], known
    return pos.values[known], known


def map_strings(value: Any, fn: Callable[[Loc, str], Any], loc: Loc = ()) -> Any:
    """A copy of a plain tree with every string value (not key) replaced by ``fn(loc, s)``."""
    if isinstance(value, str):
        return fn(loc, value)
    if isinstance(value, dict):
        return {key: map_strings(item, fn, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, fn, (*loc, i)) for i, item in enumerate(value)]
    return value
