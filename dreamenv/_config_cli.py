"""Generate argparse options from a config dataclass: field docstrings become ``--help`` text.

Examples:
    >>> import argparse
    >>> from dreamenv.behaviour.sac import SACConfig
    >>> p = argparse.ArgumentParser()
    >>> add_dataclass_options(p, SACConfig)
    >>> config_from_args(SACConfig, p.parse_args(["--total-steps", "10"])).total_steps
    10
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
from typing import Any, TypeVar

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) keyed by field name, from
    ``cls`` and the dataclasses it derives from (a subclass's own docstring wins)."""
    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, prefix: str = "",
                          suppress_defaults: bool = False) -> None:
    """Add one ``--{prefix}field-name`` option per field of dataclass ``cls`` (bool, int, float,
    str, or one of them ``| None``); the value lands in ``args.{prefix}field_name``. With
    ``suppress_defaults`` an option left out is absent from ``args`` (the caller fills it in,
    e.g. from a per-task recipe); ``--help`` still shows the dataclass default."""
    docs = field_docs(cls)
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        name = str(hints[f.name]).removesuffix(" | None")
        kind = {"int": int, "float": float, "str": str, "bool": bool}[name]
        flag = "--" + (prefix + f.name).replace("_", "-")
        # argparse %-formats help strings: a literal "%" in a docstring must be doubled.
        help_text = f"{docs.get(f.name, '')} (default: {f.default})".strip().replace("%", "%%")
        default = argparse.SUPPRESS if suppress_defaults else f.default
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text, dest=(prefix + f.name).replace("-", "_"))
        else:
            parser.add_argument(flag, type=kind, default=default, help=help_text,
                                dest=(prefix + f.name).replace("-", "_"))


def config_from_args(cls: type[T], args: argparse.Namespace, prefix: str = "") -> T:
    prefix = prefix.replace("-", "_")
    values: dict[str, Any] = {f.name: getattr(args, prefix + f.name)
                              for f in dataclasses.fields(cls)}
    return cls(**values)
