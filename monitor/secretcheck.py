"""``check`` warns about notifier secrets written literally in the config file.

A webhook URL, signing secret, bot token or auth header written into ``alerts.yaml``
ends up in git, in ConfigMaps and in backups; ``${VAR}`` keeps it in the environment
(a Kubernetes Secret, a compose ``.env``). A literal secret still works, so this is a
warning, not an error. A value counts as from the environment when its text holds a
``${...}`` (even in part, e.g. ``https://hooks.example/${TOKEN}``).

Which fields are secret is read from the loaded config itself: every ``SecretStr``
field of a notifier or of the heartbeat, and every ``headers`` value. The warnings
name the place and the variable to use, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, SecretStr

from monitor import yamlpos
from monitor.config import Config


def literal_secrets(path: Path, config: Config) -> list[str]:
    """One ``file:line:col: warning`` per secret written literally in ``path``."""
    try:
        raw, pos = yamlpos.load(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, yamlpos.YamlError):
        return []  # the loader reports these
    warnings = []
    for loc, hint in _secret_locations(config):
        value = _at(raw, loc)
        if isinstance(value, str) and value and "${" not in value:
            mark = pos.values.get(loc)
            where = f"{mark}" if mark is not None else str(path)
            dotted = ".".join(str(part) for part in loc)
            warnings.append(
                f"{where}: warning: {dotted} is a secret written in the file; "
                f"use ${{{hint}}} and set it in the environment"
            )
    return warnings


def _secret_locations(config: Config) -> Iterator[tuple[tuple[str, ...], str]]:
    specs: list[tuple[tuple[str, ...], BaseModel]] = [
        (("notifiers", name), spec) for name, spec in config.notifiers.items()
    ]
    if config.heartbeat is not None:
        specs.append((("heartbeat",), config.heartbeat))
    for prefix, spec in specs:
        stem = "_".join(prefix[1:] or prefix).upper().replace("-", "_")
        for field, value in dict(spec).items():
            if isinstance(value, SecretStr):
                yield (*prefix, field), f"{stem}_{field.upper()}"
        for header in getattr(spec, "headers", {}):
            yield (*prefix, "headers", header), f"{stem}_{header.upper().replace('-', '_')}"


def _at(data: object, loc: tuple[str, ...]) -> object:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data
