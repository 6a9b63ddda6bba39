"""Read YAML into plain Python values while remembering where every value and key came from.

PyYAML's loaders lose positions and silently keep the last of two duplicate keys, so voices.yaml is
composed into nodes and converted here. Anchors and aliases are refused outright: a desired-state file has
no need for them, and refusing them closes the "billion laughs" expansion attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
MAX_DEPTH = 32  # voices.yaml is four levels deep; anything far deeper is hostile or a mistake
MAX_BYTES = 2 * 1024 * 1024


@dataclass
class LoadedYaml:
    data: Any
    value_pos: dict[Path, tuple[int, int]] = field(default_factory=dict)  # 1-based line, column
    key_pos: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[YamlError] = field(default_factory=list)  # found while converting; the first value is kept

    def pos(self, path: Path) -> tuple[int, int]:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        while path not in self.value_pos and path:
            path = path[:-1]
        return self.value_pos.get(path, (1, 1))

    def key(self, path: Path) -> tuple[int, int]:
        return self.key_pos.get(path) or self.pos(path)


class YamlError(Exception):
    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.message, self.line, self.column = message, line, column
        super().__init__(message)


def _mark(node: yaml.Node | yaml.Event) -> tuple[int, int]:
    m = node.start_mark
    return (m.line + 1, m.column + 1) if m is not None else (1, 1)


class _NoTimestampLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: a date-like string stays a string."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def decode_text(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise YamlError(f"file is {len(raw)} bytes; voices.yaml may be at most {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise YamlError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x}): save the file as UTF-8", line, column) from None
    return text.removeprefix("\ufeff")


if yaml.__with_libyaml__:

    class _NoTimestampCLoader(yaml.CSafeLoader):
        """The libyaml parser with the same resolvers: the pure-Python parser needs about 2 s per 1000 voices,
        so a 2 MB file of tiny entries kept `plan` busy for over a minute before refusing it."""

    _NoTimestampCLoader.yaml_implicit_resolvers = _NoTimestampLoader.yaml_implicit_resolvers


def load_yaml(raw: bytes) -> LoadedYaml:
    text = decode_text(raw)
    node: yaml.Node | None = None
    loader: Any = None  # a libyaml or pure-Python SafeLoader: _convert only uses what both have
    if yaml.__with_libyaml__:
        try:
            _refuse_aliases_and_depth(text, yaml.CSafeLoader)
            loader = _NoTimestampCLoader(text)
            try:
                node = loader.get_single_node()
            finally:
                loader.dispose()
        except yaml.YAMLError:
            loader = None  # report through the pure-Python parser below: its messages and positions are the reference
    if loader is None:
        node, loader = _compose_python(text)
    out = LoadedYaml(data=None)
    if node is None:
        return out
    out.data = _convert(node, (), out, loader)
    return out


# PyYAML's wording of its common problems -> what happened and the fix, and whether the place to show is where
# the construct began (an unclosed bracket or quote is reported at the end of the file, far from the cause).
_SYNTAX_HINTS: tuple[tuple[str, str, bool], ...] = (
    ("found character '\\t'", "a tab character: YAML indents with spaces only; replace the tab with spaces", False),
    ("expected ',' or ']'", "a [ list is not closed: add the ], or quote a value that starts with [", True),
    ("expected ',' or '}'", "a { mapping is not closed: add the }, or quote a value that starts with {", True),
    ("found unexpected end of stream", "a quote is opened here and never closed: close it", True),
    (
        "mapping values are not allowed here",
        "a ': ' inside a plain value: quote the value, or fix this line's indentation",
        False,
    ),
    ("could not find expected ':'", "a line that is not `key: value`: add the colon, or quote the value", False),
    (
        "did not find expected key",
        "this line's indentation does not match the lines above it: align it with its siblings",
        False,
    ),
    (
        "expected <block end>",
        "this line's indentation does not match the lines above it: align it with its siblings",
        False,
    ),
    (
        "did not find expected '-' indicator",
        "a list item must start with '- ' at the same indentation as the others",
        False,
    ),
    (
        "found undefined alias",
        "an *alias without its &anchor: voices.yaml takes no anchors or aliases; write the value out",
        False,
    ),
)


def syntax_hint(problem: str, context: str) -> tuple[str, bool]:
    """A YAML syntax problem in words a user can act on, and whether to point at where the construct began."""
    for needle, hint, at_context in _SYNTAX_HINTS:
        if needle in problem or needle in context:
            return hint, at_context
    return f"{problem or context}: check the indentation (spaces only) and the quoting on this line", False


def _compose_python(text: str) -> tuple[yaml.Node | None, yaml.SafeLoader]:
    loader = None
    try:
        # The reader checks for unprintable characters (NUL, most C0 controls) as soon as it is built.
        loader = _NoTimestampLoader(text)
        _refuse_aliases_and_depth(text, yaml.SafeLoader)
        return loader.get_single_node(), loader
    except yaml.MarkedYAMLError as e:
        message, at_context = syntax_hint(e.problem or "", e.context or "")
        mark = (e.context_mark if at_context else None) or e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlError(f"YAML syntax error: {message}", line, col) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise YamlError(
            f"character U+{e.character:04X} is not allowed in YAML (binary data?): remove it; voices.yaml is text",
            line,
            column,
        ) from None
    except yaml.YAMLError as e:
        raise YamlError(f"YAML error: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _refuse_aliases_and_depth(text: str, parser: type) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=parser):
        if isinstance(event, yaml.AliasEvent):
            raise YamlError(
                f"aliases (*{event.anchor}) are not supported in voices.yaml: write the value out", *_mark(event)
            )
        if isinstance(event, yaml.NodeEvent) and event.anchor:
            raise YamlError(
                f"anchors (&{event.anchor}) are not supported in voices.yaml: write the value out", *_mark(event)
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlError(f"nesting deeper than {MAX_DEPTH} levels: voices.yaml is flat", *_mark(event))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _convert(node: yaml.Node, path: Path, out: LoadedYaml, loader: yaml.SafeLoader) -> Any:
    out.value_pos[path] = _mark(node)
    if node.tag not in _STANDARD_TAGS:
        out.problems.append(YamlError(f"unsupported YAML tag {node.tag}: remove it", *_mark(node)))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                out.problems.append(YamlError("mapping keys must be plain strings (no merge keys)", *_mark(key_node)))
                continue
            key = str(loader.construct_object(key_node))
            if key in result:
                first = out.key_pos[(*path, key)]
                out.problems.append(
                    YamlError(
                        f"duplicate key {key!r} (first at line {first[0]}): YAML would silently keep only the "
                        "last one; remove or merge the duplicates",
                        *_mark(key_node),
                    )
                )
                continue
            out.key_pos[(*path, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*path, key), out, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), out, loader) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node)
    except ValueError:
        # Python refuses to convert integers of more than 4300 digits (a guard against slow parsing).
        out.problems.append(
            YamlError(f"number with {len(node.value)} digits is far too large: use a sensible value", *_mark(node))
        )
        return None
