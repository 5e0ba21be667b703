"""One JSON Lines reader and one writer for every command (score, critique, eval, data).

Reading: lines are read as bytes and decoded one at a time, so a bad line is a
:class:`BadLine` naming ``FILE:LINE`` (and the field where there is one) and every other line
is kept. Bad lines are: invalid UTF-8, invalid JSON, nesting too deep for the decoder, an
integer over Python's 4,300-digit conversion limit, and a lone surrogate such as
``"\\ud800"`` (valid JSON, but no UTF-8 text can hold it: it would crash any writer later).

Writing: :func:`atomic_output` writes to ``NAME.partial`` beside the target and renames it
over the target only when the writing finished, so a crash never leaves a truncated file and
the target keeps its previous content; it refuses a target that is one of the inputs (an
input is never overwritten) and removes a ``.partial`` left by a killed run.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class BadLine:
    """A line of a JSON Lines file that could not be read, with the reason (and the field).

    >>> str(BadLine("in.jsonl", 4, "not JSON"))
    'in.jsonl:4: not JSON'
    >>> str(BadLine("in.jsonl", 5, "lone surrogate U+D800", field="sources[0].text"))
    'in.jsonl:5: field sources[0].text: lone surrogate U+D800'
    """

    path: str
    line: int
    problem: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: field {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"


class EmptyOutput(ValueError):
    """Raised by :func:`write_jsonl` with ``keep_empty=False`` when no row came: the target is
    left as it was (a previous good file is not replaced by an empty one).

    >>> str(EmptyOutput("out.jsonl"))
    'no row to write to out.jsonl (left unchanged)'
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(f"no row to write to {path} (left unchanged)")


class OverwriteError(ValueError):
    """An output path that is one of the inputs (the input would be lost).

    >>> str(OverwriteError("x.jsonl"))
    'output x.jsonl is an input file; write to another path (inputs are never overwritten)'
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(f"output {path} is an input file; write to another path "
                         "(inputs are never overwritten)")


def surrogate_field(value: Any, where: str = "") -> tuple[str, str] | None:
    """``(field, character)`` of the first string (key or value) holding a lone surrogate.

    >>> surrogate_field({"sources": [{"text": "ok"}, {"text": "a\\ud800"}]})
    ('sources[1].text', 'U+D800')
    >>> surrogate_field({"q": "fine \\U0001F600"}) is None
    True
    """
    if isinstance(value, str):
        found = None if value.isascii() else _SURROGATE.search(value)
        return None if found is None else (where or "(value)", f"U+{ord(found.group()):04X}")
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = surrogate_field(key, name) or surrogate_field(item, name)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = surrogate_field(item, f"{where}[{index}]")
            if found:
                return found
    return None


def decode_line(raw: bytes, path: str, number: int) -> Any:
    """The JSON value of one line, or a :class:`BadLine` saying why it cannot be read.

    >>> decode_line(b'{"a": 1}', "f", 1)
    {'a': 1}
    >>> for raw in (b'\\xff{}', b'{oops', b'[' * 100000, b'1' * 5000, b'{"q": "\\\\ud800"}'):
    ...     print(decode_line(raw, "f", 2))
    f:2: not valid UTF-8 (byte 0xff at column 1)
    f:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)
    f:2: nesting too deep to decode
    f:2: integer over 4,300 digits (Python's int conversion limit)
    f:2: field q: lone surrogate U+D800 (valid JSON, but not encodable as UTF-8)
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadLine(path, number, f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})")
    value = decode_text(text, path, number)
    if isinstance(value, BadLine) or not _ESCAPED_SURROGATE.search(raw):
        return value
    return surrogate_problem(value, path, number) or value


def decode_text(text: str, path: str, number: int) -> Any:
    """The JSON value of one decoded line, or a :class:`BadLine` (no surrogate check).

    >>> decode_text('[1, 2]', "f", 3), str(decode_text('{"a": 1} x', "f", 3))
    ([1, 2], 'f:3: not valid JSON (Extra data at column 10)')
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        return BadLine(path, number, decode_problem(error))


def decode_problem(error: ValueError | RecursionError) -> str:
    """What a JSON decoding error means, in words (no traceback).

    >>> decode_problem(RecursionError()), decode_problem(ValueError("Exceeds the limit (4300 digits)"))
    ('nesting too deep to decode', "integer over 4,300 digits (Python's int conversion limit)")
    """
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg} at column {error.colno})"
    if isinstance(error, RecursionError):
        return "nesting too deep to decode"
    return "integer over 4,300 digits (Python's int conversion limit)"  # sys.get_int_max_str_digits()


def surrogate_problem(value: Any, path: str, number: int, escaped_bytes: bool = False) -> BadLine | None:
    """A :class:`BadLine` when ``value`` holds a lone surrogate anywhere, else ``None``.

    With ``escaped_bytes`` (text decoded with ``errors="surrogateescape"``), U+DC80-U+DCFF
    stand for bytes that are not UTF-8, and are reported so.

    >>> surrogate_problem(["ok"], "f", 1) is None, str(surrogate_problem(["\\udc80"], "f", 1))
    (True, 'f:1: field [0]: lone surrogate U+DC80 (valid JSON, but not encodable as UTF-8)')
    >>> str(surrogate_problem({"a": "caf\\udce9"}, "f", 2, escaped_bytes=True))
    'f:2: field a: not valid UTF-8 (byte 0xe9)'
    """
    found = surrogate_field(value)
    if found is None:
        return None
    field, character = found
    code = int(character[2:], 16)
    if escaped_bytes and 0xDC80 <= code <= 0xDCFF:
        return BadLine(path, number, f"not valid UTF-8 (byte 0x{code - 0xDC00:02x})", field=field)
    return BadLine(path, number, f"lone surrogate {character} (valid JSON, but not encodable as UTF-8)",
                   field=field)


def raw_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """``(line_number, bytes)`` of every non-blank line (1-based numbers, newline removed).

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> _ = open(path, "wb").write(b'a\\n\\n  \\r\\nb\\xff\\r\\n')
    >>> list(raw_lines(path))
    [(1, b'a'), (4, b'b\\xff')]
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def read_values(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line_number, value)`` of every non-blank line; a bad line gives a :class:`BadLine`.

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> _ = open(path, "wb").write(b'{"a": 1}\\n\\xfe\\n[2]\\n')
    >>> [(n, str(v) if isinstance(v, BadLine) else v) for n, v in read_values(path)]  # doctest: +ELLIPSIS
    [(1, {'a': 1}), (2, '...:2: not valid UTF-8 (byte 0xfe at column 1)'), (3, [2])]
    """
    name = str(path)
    for number, raw in raw_lines(path):
        yield number, decode_line(raw, name, number)


def read_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
    """Like :func:`read_values`, but a line that is not a JSON object is a :class:`BadLine`.

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> _ = open(path, "w").write('{"a": 1}\\n[2]\\n')
    >>> [getattr(v, "problem", v) for _, v in read_objects(path)]
    [{'a': 1}, 'not a JSON object (got list)']
    """
    name = str(path)
    for number, value in read_values(path):
        if not isinstance(value, (dict, BadLine)):
            value = BadLine(name, number, f"not a JSON object (got {type(value).__name__})")
        yield number, value


def count_lines(path: str | Path) -> int:
    """How many non-blank lines a file has (a progress bar's total).

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> _ = open(path, "wb").write(b'{}\\n\\n\\xff\\n')
    >>> count_lines(path)
    2
    """
    return sum(1 for _ in raw_lines(path))


def dumps_line(row: Mapping[str, Any]) -> str:
    """One row as a JSON line (UTF-8 kept readable, no ASCII escaping), newline included.

    >>> dumps_line({"a": "é"})
    '{"a": "é"}\\n'
    """
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_jsonl_line(handle: IO[str], row: Mapping[str, Any]) -> None:
    """Write one row as a JSON line (:func:`dumps_line`).

    >>> import io; buffer = io.StringIO(); write_jsonl_line(buffer, {"a": "é"}); buffer.getvalue()
    '{"a": "é"}\\n'
    """
    handle.write(dumps_line(row))


def partial_path(path: str | Path) -> Path:
    """Where :func:`atomic_output` writes before renaming: ``NAME.partial`` beside ``path``.

    >>> partial_path("out/rows.jsonl").as_posix()
    'out/rows.jsonl.partial'
    """
    path = Path(path)
    return path.with_name(path.name + ".partial")


def check_not_input(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """Raise :class:`OverwriteError` when ``output`` is (or links to) one of ``inputs``.

    >>> import tempfile
    >>> path = tempfile.NamedTemporaryFile(delete=False).name
    >>> check_not_input(path + ".out", [path])
    >>> try:
    ...     check_not_input(path, ["/nonexistent", path])
    ... except OverwriteError as error:
    ...     print(str(error).replace(path, "IN"))
    output IN is an input file; write to another path (inputs are never overwritten)
    """
    target = Path(output)
    if not target.exists():
        return
    for source in inputs:
        if Path(source).exists() and os.path.samefile(target, source):
            raise OverwriteError(output)


@contextmanager
def atomic_output(path: str | Path, inputs: Iterable[str | Path] = ()) -> Iterator[IO[str]]:
    """A text handle whose content replaces ``path`` only once the ``with`` block finished.

    Refuses (:class:`OverwriteError`) an output that is one of ``inputs``; creates the
    parent directory; a ``.partial`` file left by a killed run is replaced, and the one of a
    failed run removed. A target that exists but is not a regular file (``/dev/null``, a
    pipe) is written directly.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "sub", "x.jsonl")
    >>> with atomic_output(path) as handle:
    ...     write_jsonl_line(handle, {"a": 1})
    ...     os.path.exists(path)
    False
    >>> open(path).read(), os.path.exists(path + ".partial")
    ('{"a": 1}\\n', False)
    """
    check_not_input(path, inputs)
    target = Path(path)
    if target.exists() and not target.is_file() and not target.is_dir():
        with open(target, "w", encoding="utf-8") as handle:
            yield handle
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    partial.unlink(missing_ok=True)  # left by a killed run
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path, inputs: Iterable[str | Path] = (),
                keep_empty: bool = True) -> int:
    """Write rows as JSON Lines through :func:`atomic_output`; returns how many.

    With ``keep_empty=False``, no row raises :class:`EmptyOutput` and ``path`` is untouched.

    >>> import tempfile, os; path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> write_jsonl([{"a": 1}, {"a": 2}], path), open(path).read()
    (2, '{"a": 1}\\n{"a": 2}\\n')
    >>> try:
    ...     write_jsonl([], path, keep_empty=False)
    ... except EmptyOutput:
    ...     open(path).read().count("\\n")
    2
    """
    count = 0
    with atomic_output(path, inputs) as handle:
        for row in rows:
            write_jsonl_line(handle, row)
            count += 1
        if not count and not keep_empty:
            raise EmptyOutput(path)
    return count
