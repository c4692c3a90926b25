"""Settings of experiments: declared once on the config dataclass, used by every front end.

A field made with `setting(...)` carries its help text, limits, choices and whether it
is live. From that one declaration the app builds its controls, the CLI parses
`--set key=value`, `vizlab list` prints the settings, and `validate` checks a config.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterable, Sequence
from typing import Any


class SettingError(ValueError):
    """A setting has a bad name or value; the message says which and what is allowed."""


# Caps on values that arrive from files and scripts: a text setting holds a name, a path
# or a short expression, a list setting one entry per layer or class.
MAX_TEXT_LENGTH = 4096
MAX_LIST_LENGTH = 64


def setting(
    default: Any,
    help: str,
    *,
    choices: Sequence[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    live: bool = False,
    log_scale: bool = False,
) -> Any:
    """A config field with its metadata.

    live: the experiment reads it again at every step, so changing it while training
    takes effect at the next step; otherwise a change applies on reset (rebuild).
    log_scale: a hint for sliders (learning rates, lambdas).
    """
    metadata = {
        "help": help, "choices": tuple(choices) if choices is not None else None,
        "low": low, "high": high, "live": live, "log_scale": log_scale,
    }
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """What a front end needs to know about one setting."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None
    low: float | None
    high: float | None
    live: bool
    log_scale: bool
    # The type of each entry of a list setting (tuple[int, ...] -> int); None otherwise.
    item_type: type | None = None


def settings_of(config_or_class) -> list[SettingInfo]:
    """The settings of a config class (or instance), in declaration order."""
    cls = config_or_class if isinstance(config_or_class, type) else type(config_or_class)
    hints = typing.get_type_hints(cls)
    infos = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        infos.append(
            SettingInfo(
                name=f.name, type=_base_type(hints[f.name]), default=default,
                help=meta.get("help", ""), choices=meta.get("choices"), low=meta.get("low"),
                high=meta.get("high"), live=meta.get("live", False),
                log_scale=meta.get("log_scale", False), item_type=_item_type(hints[f.name]),
            )
        )
    return infos


def _base_type(hint) -> type:
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return origin
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(args[0])
    return hint if isinstance(hint, type) else str


def _item_type(hint) -> type | None:
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _item_type(args[0])
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return args[0] if args and isinstance(args[0], type) else None
    return None


def split_list(text: str) -> list[str]:
    """The items of a list typed as text: "64, 32", "64;32" and "64 32" are all two."""
    return [part for part in re.split(r"[,;\s]+", text) if part]


def parse_value(info: SettingInfo, text: str) -> Any:
    """Turn the text a user typed (`--set key=value`) into the setting's type."""
    text = text.strip()
    try:
        if info.type is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if info.type is int:
            return int(text)
        if info.type is float:
            return float(text)
        if info.type in (tuple, list):
            items = split_list(text)
            element = info.item_type or (type(info.default[0]) if info.default else int)
            values = [element(p) for p in items]
            return info.type(values)
        return text
    except ValueError as exc:
        raise SettingError(
            f"setting {info.name!r}: cannot read {text!r} as {info.type.__name__} ({exc})"
        ) from None


def apply_settings(config, assignments: dict[str, Any] | Iterable[str]) -> None:
    """Set fields from {name: value} or from "name=value" strings, validating each.

    Values given as text are parsed to the field's type. On any error nothing is
    changed and a SettingError names the setting and what is allowed.
    """
    if not isinstance(assignments, dict):
        parsed = {}
        for item in assignments:
            if "=" not in item:
                raise SettingError(f"expected key=value, got {item!r}")
            key, value = item.split("=", 1)
            parsed[key.strip()] = value
        assignments = parsed
    infos = {info.name: info for info in settings_of(config)}
    trial = dataclasses.replace(config)
    for key, value in assignments.items():
        if key not in infos:
            raise SettingError(
                f"unknown setting {key!r}; the settings are: {', '.join(infos)}"
            )
        if isinstance(value, str) and infos[key].type is not str:
            value = parse_value(infos[key], value)
        setattr(trial, key, _normalised(infos[key], value))
    validate(trial)
    for key in assignments:
        setattr(config, key, getattr(trial, key))


def _normalised(info: SettingInfo, value: Any) -> Any:
    """The value in the setting's own type where that loses nothing: 3.0 -> 3 for whole
    numbers, 3 -> 3.0 for floats, a list -> a tuple (files store tuples as lists)."""
    if info.type in (tuple, list) and isinstance(value, tuple | list):
        items = [_normalised_item(info.item_type, v) for v in value]
        return info.type(items)
    return _normalised_item(info.type, value)


def _normalised_item(kind: type | None, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and math.isfinite(value) \
            and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and abs(value) < 2**1023:
        return float(value)
    return value


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 200:
        return f"a whole number of {value.bit_length()} bits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # too deep or too long to print
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _check_item(info: SettingInfo, kind: type | None, value: Any, what: str) -> None:
    """Check one value (or one entry of a list) against its type and limits."""
    name = info.name
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingError(f"setting {name!r}: {what} must be true or false, "
                               f"got {_short(value)}")
        return
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingError(f"setting {name!r}: {what} must be a number, got {_short(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingError(f"setting {name!r}: {what} must be a finite number, "
                               f"got {value!r}")
        if kind is int and isinstance(value, float):
            raise SettingError(f"setting {name!r}: {what} must be a whole number, got {value!r}")
        # Comparisons of Python ints with floats are exact and never overflow.
        if info.low is not None and value < info.low:
            raise SettingError(f"setting {name!r}: {what} must be at least {info.low}, "
                               f"got {_short(value)}")
        if info.high is not None and value > info.high:
            raise SettingError(f"setting {name!r}: {what} must be at most {info.high}, "
                               f"got {_short(value)}")
        return
    if kind is str:
        if not isinstance(value, str):
            raise SettingError(f"setting {name!r}: {what} must be text, got "
                               f"{type(value).__name__} {_short(value)}")
        if len(value) > MAX_TEXT_LENGTH:
            raise SettingError(f"setting {name!r}: {what} is {len(value)} characters long; "
                               f"the limit is {MAX_TEXT_LENGTH}")


def validate(config) -> None:
    """Check every setting against its type, choices and limits; raise SettingError."""
    for info in settings_of(config):
        value = getattr(config, info.name)
        if info.type in (tuple, list):
            if not isinstance(value, tuple | list):
                raise SettingError(f"setting {info.name!r} must be a list of values, "
                                   f"got {_short(value)}")
            if not value:
                raise SettingError(f"setting {info.name!r} needs at least one value")
            if len(value) > MAX_LIST_LENGTH:
                raise SettingError(f"setting {info.name!r} has {len(value)} values; the "
                                   f"limit is {MAX_LIST_LENGTH}")
            for v in value:
                _check_item(info, info.item_type, v, "each value")
        else:
            _check_item(info, info.type, value, "the value")
        if info.choices is not None:
            values = value if isinstance(value, tuple | list) else (value,)
            for v in values:
                try:
                    known = v in info.choices
                except TypeError:  # an unhashable or incomparable value from a file
                    known = False
                if not known:
                    raise SettingError(
                        f"setting {info.name!r}: {_short(v)} is not one of "
                        f"{', '.join(map(str, info.choices))}"
                    )
    check = getattr(config, "check", None)
    if check is not None:
        check()  # the experiment's own cross-field checks


def describe_settings(config_or_class) -> str:
    """A plain-text table of settings, for `vizlab list`."""
    lines = []
    for info in settings_of(config_or_class):
        extra = []
        if info.choices:
            extra.append("one of " + "|".join(map(str, info.choices)))
        if info.low is not None or info.high is not None:
            extra.append(f"range {info.low}..{info.high}")
        if info.live:
            extra.append("live")
        default = info.default
        if isinstance(default, tuple | list):
            default = ",".join(map(str, default))
        note = f" [{'; '.join(extra)}]" if extra else ""
        lines.append(f"  {info.name}={default}  {info.help}{note}")
    return "\n".join(lines)


class CachedPart:
    """A part of a snapshot computed from some settings, computed again only when one of
    them changes (live settings change while a run goes on; the rest is reused)."""

    def __init__(self, config: Any, fields: Sequence[str], compute) -> None:
        self.config, self.fields, self.compute = config, tuple(fields), compute
        self.key: tuple | None = None
        self.value: Any = None

    def get(self) -> Any:
        # A copy: the app may change live settings while this computes.
        config = dataclasses.replace(self.config)
        key = tuple(getattr(config, name) for name in self.fields)
        if key != self.key:
            self.value, self.key = self.compute(config), key
        return self.value
