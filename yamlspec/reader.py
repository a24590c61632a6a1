"""Read a YAML file into plain Python data, or raise a SpecError naming the line."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from yamlspec.errors import SpecError, key_path
from yamlspec.limits import MAX_INT, MAX_YAML_VALUES


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that rejects a mapping key given twice (plain PyYAML keeps the last
    one silently, so a typo'd second `rows:` would win unnoticed). Built on libyaml's
    parser where PyYAML has it: about 10x faster on the presets."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` may be overridden by the keys beside it
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key ([a, b]: 1); the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (line {first} and line {line})",
                        key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, expect_key: str | None = None) -> dict:
    """Parse `path`; it must hold a mapping (with `expect_key` at the top, if given).
    Duplicate keys, text that is not UTF-8, NaN/inf and integers beyond MAX_INT are
    errors naming the file (and line or key path)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("file not found (give a path to a YAML file)", str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror or exc}", str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SpecError(f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at line {line}); "
                        f"expected YAML text", str(path)) from None
    data = parse_yaml_text(text, str(path))
    if not isinstance(data, dict):
        raise SpecError("expected a YAML mapping at the top level", str(path))
    if expect_key is not None and expect_key not in data:
        raise SpecError(
            f"expected a top-level key '{expect_key}' (found: {', '.join(map(str, data)) or 'nothing'})",
            str(path),
        )
    return data


def parse_yaml_text(text: str, file: str | None = None):
    """YAML text -> data, checked as read_yaml checks a file (`file` names it in errors)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"malformed YAML at {where}: {problem}", file) from None
    except RecursionError:  # thousands of nested brackets
        raise SpecError("malformed YAML: nested too deeply", file) from None
    _check_numbers(data, [], file)
    return data


def _check_numbers(node, parts: list, file: str | None):
    """NaN and inf compare false with every limit, and integers past int64 overflow the
    numpy engines: reject both wherever they appear. Aliases (&a / *a) may make the data
    refer to itself or expand to billions of values: reject those too."""
    expanded: dict[int, int] = {}  # id of a container already checked -> values inside
    on_path: set[int] = set()

    def walk(value, where: list) -> int:
        if isinstance(value, (dict, list)):
            key = id(value)
            if key in on_path:
                raise SpecError("an alias refers to a mapping or list that contains it",
                                file, key_path(where) or None)
            if key in expanded:
                return expanded[key]
            on_path.add(key)
            items = (((str(k), v) for k, v in value.items()) if isinstance(value, dict)
                     else enumerate(value))
            size = 1 + sum(walk(v, [*where, k]) for k, v in items)
            on_path.discard(key)
            if size > MAX_YAML_VALUES:
                raise SpecError(f"the YAML expands to more than {MAX_YAML_VALUES:,} values "
                                f"(through aliases)", file, key_path(where) or None)
            expanded[key] = size
            return size
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{value} is not a finite number", file, key_path(where) or None)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise SpecError(f"{value} is too large (integers are limited to {MAX_INT:,} = "
                            f"2**63 - 1)", file, key_path(where) or None)
        return 1

    try:
        walk(node, parts)
    except RecursionError:  # nested deeper than Python's stack (YAML's parser allows it)
        raise SpecError("the YAML is nested too deeply", file) from None
