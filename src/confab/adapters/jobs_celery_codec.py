"""JSON for job arguments and results that cross the Celery boundary, driven by type hints.

A local pool pickles whatever a task takes; a broker carries JSON, and bytes do not belong
in it. So a task's parameters and result are converted by their type hints:

- dataclasses become objects of their fields (and are rebuilt from them), tuples and lists
  become arrays, enums their values, `Literal`s, str, int, float, bool and None stay;
- bytes are not inlined: `stash(data)` stores them (in the shared blob store) and returns a
  key, and the JSON holds `{"$blob": key}`; decoding looks the key up in `blobs`;
- a `LocalFile` (a path on the caller's machine) is read by the caller and shipped as bytes.

Decoding is strict: a value that does not fit its hint raises `TypeError`, so a malformed
message fails its job instead of running a task with wrong arguments.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from confab.core.tasks import LOCAL_FILE

BLOB_TAG = "$blob"

Stash = Callable[[bytes], str]


@dataclass(frozen=True, slots=True)
class TaskSignature:
    """The type hints of a task's positional parameters and of its result."""

    params: tuple[Any, ...]
    result: Any

    def check_arity(self, count: int) -> None:
        """Refuse more arguments than the task has parameters."""
        if count > len(self.params):
            raise TypeError(f"{count} arguments given, the task takes {len(self.params)}")


def task_signature(function: Callable[..., Any]) -> TaskSignature:
    """The hints of `function` (unannotated parameters are `Any`: plain JSON)."""
    hints = typing.get_type_hints(function, include_extras=True)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [
        p.name for p in inspect.signature(function).parameters.values() if p.kind in positional
    ]
    return TaskSignature(tuple(hints.get(n, Any) for n in names), hints.get("return", Any))


def encode_args(signature: TaskSignature, args: Sequence[Any], stash: Stash) -> list[Any]:
    """The JSON form of a call's positional arguments."""
    signature.check_arity(len(args))
    return [encode(value, hint, stash) for value, hint in zip(args, signature.params, strict=False)]


def decode_args(signature: TaskSignature, data: Any, blobs: Mapping[str, bytes]) -> list[Any]:
    """The arguments back from their JSON form."""
    if not isinstance(data, list):
        raise TypeError("the arguments are not a JSON array")
    signature.check_arity(len(data))
    return [decode(value, hint, blobs) for value, hint in zip(data, signature.params, strict=False)]


def _split_annotated(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(hint) is Annotated:
        return hint.__origin__, tuple(hint.__metadata__)
    return hint, ()


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _is_local_file(hint: Any) -> bool:
    base, extras = _split_annotated(hint)
    return base is str and LOCAL_FILE in extras


def _narrow(value: Any, hint: Any) -> Any:
    """The member of a union hint that `value` is an instance of (for encoding)."""
    if not _is_union(typing.get_origin(hint)):
        return hint
    members = typing.get_args(hint)
    if isinstance(value, str):
        # A path to a local file wins over a plain string.
        for member in members:
            if _is_local_file(member):
                return member
    for member in members:
        base, _ = _split_annotated(member)
        check = typing.get_origin(base) or base
        if check is Literal or check is Any:
            return member
        if isinstance(check, type) and isinstance(value, check):
            return member
    return Any


def encode(value: Any, hint: Any, stash: Stash) -> Any:
    """The JSON form of `value`, as its type hint `hint` describes it."""
    hint = _narrow(value, hint)
    if _is_local_file(hint) and isinstance(value, str):
        return {BLOB_TAG: stash(Path(value).read_bytes())}
    hint, _ = _split_annotated(hint)
    if value is None:
        return None
    if isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {BLOB_TAG: stash(bytes(value))}
    if isinstance(value, enum.Enum):
        _require(isinstance(hint, type) and isinstance(value, hint), value, hint)
        return encode(value.value, Any, stash)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _require(type(value) is hint, value, hint)
        field_hints = typing.get_type_hints(hint, include_extras=True)
        return {
            f.name: encode(getattr(value, f.name), field_hints[f.name], stash)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, tuple | list):
        hints = _item_hints(hint, len(value))
        return [encode(item, h, stash) for item, h in zip(value, hints, strict=True)]
    if isinstance(value, dict):
        item_hint = _value_hint(hint)
        encoded: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or key == BLOB_TAG:
                raise TypeError(f"cannot encode the mapping key {key!r}")
            encoded[key] = encode(item, item_hint, stash)
        return encoded
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _require(ok: bool, value: Any, hint: Any) -> None:
    # Without its exact type in the hints, a dataclass or enum could not be rebuilt.
    if not ok:
        raise TypeError(f"{type(value).__name__} value where the hint is {hint!r}")


def _item_hints(hint: Any, count: int) -> list[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != count:
            raise TypeError(f"{count} items where {hint!r} has {len(args)}")
        return list(args)
    if origin in (tuple, list) or (
        isinstance(origin, type) and issubclass(origin, Sequence) and args
    ):
        return [args[0] if args else Any] * count
    return [Any] * count


def _value_hint(hint: Any) -> Any:
    args = typing.get_args(hint)
    return args[1] if len(args) == 2 else Any


def blob_keys(data: Any) -> Iterator[str]:
    """The blob keys a JSON value refers to."""
    if isinstance(data, dict):
        if set(data) == {BLOB_TAG}:
            yield str(data[BLOB_TAG])
            return
        for item in data.values():
            yield from blob_keys(item)
    elif isinstance(data, list):
        for item in data:
            yield from blob_keys(item)


def _blob(data: Any, blobs: Mapping[str, bytes]) -> bytes | None:
    if isinstance(data, dict) and set(data) == {BLOB_TAG}:
        key = data[BLOB_TAG]
        if not isinstance(key, str) or key not in blobs:
            raise TypeError(f"unknown blob {key!r}")
        return blobs[key]
    return None


def decode(data: Any, hint: Any, blobs: Mapping[str, bytes]) -> Any:
    """`data` (JSON) rebuilt as the type `hint` describes; TypeError when it does not fit."""
    if _is_local_file(hint):
        hint = bytes  # the caller shipped the file's content
    hint, _ = _split_annotated(hint)
    origin = typing.get_origin(hint)
    if hint is Any:
        return _decode_plain(data, blobs)
    if _is_union(origin):
        return _decode_union(data, typing.get_args(hint), blobs)
    if origin is Literal:
        if data in typing.get_args(hint) and not isinstance(data, dict | list):
            return data
        raise TypeError(f"{data!r} is not one of {typing.get_args(hint)}")
    if hint is None or hint is type(None):
        if data is None:
            return None
        raise TypeError(f"{data!r} is not null")
    if hint is bytes:
        blob = _blob(data, blobs)
        if blob is None:
            raise TypeError("bytes expected (a blob reference)")
        return blob
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _decode_dataclass(data, hint, blobs)
    if origin in (tuple, list, dict) or hint in (tuple, list, dict):
        return _decode_container(data, hint, origin or hint, blobs)
    if hint in (str, int, float, bool):
        return _decode_scalar(data, hint)
    raise TypeError(f"unsupported type hint {hint!r}")


def _decode_scalar(data: Any, hint: type) -> Any:
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if hint is int and isinstance(data, bool):
        raise TypeError(f"{data!r} is not an int")
    if not isinstance(data, hint):
        raise TypeError(f"{data!r} is not a {hint.__name__}")
    return data


def _decode_union(data: Any, members: tuple[Any, ...], blobs: Mapping[str, bytes]) -> Any:
    if data is None and type(None) in members:
        return None
    for member in members:
        if member is type(None):
            continue
        try:
            return decode(data, member, blobs)
        except (TypeError, ValueError):
            continue
    raise TypeError(f"{data!r} fits none of {members}")


def _decode_dataclass(data: Any, cls: type, blobs: Mapping[str, bytes]) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"an object expected for {cls.__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - names
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)} for {cls.__name__}")
    return cls(**{name: decode(value, hints[name], blobs) for name, value in data.items()})


def _decode_container(data: Any, hint: Any, origin: Any, blobs: Mapping[str, bytes]) -> Any:
    if origin is dict:
        if not isinstance(data, dict) or _blob(data, blobs) is not None:
            raise TypeError("an object expected")
        item_hint = _value_hint(hint)
        return {key: decode(value, item_hint, blobs) for key, value in data.items()}
    if not isinstance(data, list):
        raise TypeError("an array expected")
    hints = _item_hints(hint, len(data))
    items = [decode(value, h, blobs) for value, h in zip(data, hints, strict=True)]
    return tuple(items) if origin is tuple else items


def _decode_plain(data: Any, blobs: Mapping[str, bytes]) -> Any:
    """Untyped JSON (hint `Any`): only blob references are replaced."""
    blob = _blob(data, blobs)
    if blob is not None:
        return blob
    if isinstance(data, dict):
        return {key: _decode_plain(value, blobs) for key, value in data.items()}
    if isinstance(data, list):
        return [_decode_plain(value, blobs) for value in data]
    return data
