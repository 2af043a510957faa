"""Typed, validated config sections: the machinery, not the rig's options.

A section is a frozen dataclass whose fields are declared with `opt()`: a type (from the
annotation), a default or REQUIRED, limits and a one-line doc. `build_section()` turns a TOML
table into an instance, collecting every problem as a `ConfigIssue` that names the file, the
section, the option, what was wrong and what is allowed. It never stops at the first error.

Supported option types: bool, int, float, str, tuple[float, ...], tuple[str, ...],
tuple[tuple[float, float], ...], a nested section dataclass (a sub-table), and
dict[str, Section] (a table of named sub-tables, e.g. buses).

Not here: which sections a rig has (rig/config.py) or what the options mean.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class OptSpec:
    """Limits and documentation of one option."""

    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""
    min_exclusive: bool = False
    hex: bool = False


def opt(
    default: Any = REQUIRED,
    *,
    min: float | None = None,  # noqa: A002 - reads like the config it describes
    max: float | None = None,  # noqa: A002
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
    gt: float | None = None,
    hex: bool = False,  # noqa: A002 - shown in hex by `config show` (register addresses)
) -> Any:
    """Declare an option. `gt` is an exclusive minimum (e.g. a period must be > 0)."""
    spec = OptSpec(
        min=gt if gt is not None else min,
        max=max,
        choices=choices,
        doc=doc,
        min_exclusive=gt is not None,
        hex=hex,
    )
    meta = {"spec": spec}
    if default is REQUIRED:
        return field(default=REQUIRED, metadata=meta)
    if isinstance(default, (dict, list)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def section(default_factory: Callable[[], Any], doc: str = "") -> Any:
    """Declare a nested sub-table with its defaults."""
    return field(default_factory=default_factory, metadata={"spec": OptSpec(doc=doc)})


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file."""

    file: str
    section: str
    option: str
    message: str

    def __str__(self) -> str:
        where = f"[{self.section}] " if self.section else ""
        opt_part = f"{self.option} " if self.option else ""
        return f"{self.file}: {where}{opt_part}{self.message}".replace("  ", " ")


class ConfigError(Exception):
    """Raised with every issue found, so an engineer fixes them all in one pass."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def toml_value(value: Any) -> str:
    """Render a value as TOML would spell it (for messages and `config show`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


class _Ctx:
    """Where we are while building: file, section path, and the issue list."""

    def __init__(self, file: str, issues: list[ConfigIssue]):
        self.file = file
        self.issues = issues

    def add(self, sect: str, option: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, sect, option, message))


def _type_name(tp: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return f"a list of {_type_name(inner).removeprefix('a ')}s"
    return getattr(tp, "__name__", str(tp))


def _coerce_scalar(tp: Any, value: Any) -> tuple[bool, Any]:
    """Return (ok, value converted to tp). TOML ints are accepted where floats are."""
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        return math.isfinite(float(value)), float(value)
    if tp is str:
        return isinstance(value, str), value
    return False, value


def _coerce(tp: Any, value: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, value
        inner = args[0]
        if len(args) == 2 and args[1] is not Ellipsis:  # fixed pair, e.g. tuple[float, float]
            if len(value) != len(args):
                return False, value
            pairs = [_coerce(a, v) for a, v in zip(args, value)]
        else:
            pairs = [_coerce(inner, v) for v in value]
        if not all(ok for ok, _ in pairs):
            return False, value
        return True, tuple(v for _, v in pairs)
    return _coerce_scalar(tp, value)


def _check_limits(spec: OptSpec, value: Any) -> str | None:
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(toml_value(c) for c in spec.choices)
        return f"must be one of {allowed}"
    numbers = value if isinstance(value, tuple) else (value,)
    for number in numbers:
        if isinstance(number, tuple):
            continue  # pairs (coordinates) carry no scalar limits
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if spec.min is not None:
            if spec.min_exclusive and not number > spec.min:
                return f"must be greater than {toml_value(spec.min)}"
            if not spec.min_exclusive and number < spec.min:
                return f"must be at least {toml_value(spec.min)}"
        if spec.max is not None and number > spec.max:
            return f"must be at most {toml_value(spec.max)}"
    return None


def _unknown_keys(cls: type, data: dict[str, Any], sect: str, ctx: _Ctx) -> None:
    hints = typing.get_type_hints(cls)
    tables = [name for name, tp in hints.items() if _is_section(tp) or typing.get_origin(tp) is dict]
    options = [name for name in hints if name not in tables]
    for key in data:
        if key in hints:
            continue
        is_table = isinstance(data[key], dict)
        known = tables if is_table else options
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        kind = "section" if is_table else "option"
        listing = ", ".join(known) or "none"
        hint = f" (did you mean {close[0]}?)" if close else f" (known {kind}s here: {listing})"
        if is_table:
            ctx.add(f"{sect}.{key}" if sect else key, "", f"is not a known section{hint}")
        else:
            ctx.add(sect, key, f"is not a known option{hint}")


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _default(f: dataclasses.Field, base: Any) -> Any:
    """The default of a field: from the enclosing section's default instance, else the field's own."""
    if base is not None:
        return getattr(base, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _build_field(f: dataclasses.Field, tp: Any, data: dict[str, Any], sect: str, ctx: _Ctx, base: Any) -> Any:
    sub = f"{sect}.{f.name}" if sect else f.name
    if _is_section(tp):
        table = data.get(f.name, {})
        if not isinstance(table, dict):
            ctx.add(sect, f.name, f"= {toml_value(table)} must be a table [{sub}]")
            return None
        return _build(tp, table, sub, ctx, _default(f, base))
    if typing.get_origin(tp) is dict:
        return _build_named_tables(typing.get_args(tp)[1], data.get(f.name, {}), sub, ctx, f)
    spec: OptSpec = f.metadata.get("spec", OptSpec())
    if f.name not in data:
        default = _default(f, base)
        if default is REQUIRED:
            ctx.add(sect, f.name, f"is required ({spec.doc or _type_name(tp)})")
            return None
        return default
    raw = data[f.name]
    ok, value = _coerce(tp, raw)
    if not ok:
        ctx.add(sect, f.name, f"= {toml_value(raw)} must be {_type_name(tp)}")
        return None
    problem = _check_limits(spec, value)
    if problem:
        ctx.add(sect, f.name, f"= {toml_value(raw)} {problem}")
        return None
    return value


def _build_named_tables(cls: type, tables: Any, sect: str, ctx: _Ctx, f: dataclasses.Field) -> Any:
    if not isinstance(tables, dict):
        ctx.add(sect, "", "must be a table of named sub-tables")
        return None
    if not tables and f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    out = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            ctx.add(sect, name, f"= {toml_value(table)} must be a table [{sect}.{name}]")
            continue
        out[name] = _build(cls, table, f"{sect}.{name}", ctx)
    return out


def _build(cls: type, data: dict[str, Any], sect: str, ctx: _Ctx, base: Any = None) -> Any:
    hints = typing.get_type_hints(cls)
    _unknown_keys(cls, data, sect, ctx)
    before = len(ctx.issues)
    values = {f.name: _build_field(f, hints[f.name], data, sect, ctx, base) for f in dataclasses.fields(cls)}
    if len(ctx.issues) > before:
        return None
    instance = cls(**values)
    for option, message in getattr(instance, "check", lambda: [])():
        ctx.add(sect, option, message)
    return instance


def build_section(cls: type, data: dict[str, Any], file: str, sect: str = "") -> tuple[Any, list[ConfigIssue]]:
    """Build `cls` from a TOML table; return (instance or None, every issue found)."""
    issues: list[ConfigIssue] = []
    instance = _build(cls, data, sect, _Ctx(file, issues))
    return (instance if not issues else None), issues


def to_toml(instance: Any, sect: str = "") -> str:
    """Render a built config as TOML, defaults included (for `rig config show`)."""
    scalars, tables = [], []
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        name = f"{sect}.{f.name}" if sect else f.name
        if dataclasses.is_dataclass(value):
            tables.append(to_toml(value, name))
        elif isinstance(value, dict):
            tables.extend(to_toml(v, f"{name}.{k}") for k, v in value.items())
        else:
            spec = f.metadata.get("spec", OptSpec())
            comment = f"  # {spec.doc}" if spec.doc else ""
            shown = f"0x{value:04X}" if spec.hex else toml_value(value)
            scalars.append(f"{f.name} = {shown}{comment}")
    head = [f"[{sect}]"] if sect and scalars else []
    body = "\n".join(head + scalars)
    return "\n\n".join(part for part in [body] + tables if part)
