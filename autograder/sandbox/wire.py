"""What crosses the sandbox's boundary, and how: frames of plain data, sealed by the grader's key.

Used on both sides (this file is copied into the sandbox, so it imports only the standard
library and torch).

* A **frame** is a 4-byte length and a payload of at most ``MAX_FRAME`` bytes. A reader
  never trusts a length larger than that: the stream is then broken, not a reason to
  allocate.
* A **payload** is ``marshal`` of plain data: None, bool, int, float, str, bytes, and
  tuples, lists and str-keyed dicts of them. marshal is C code: student code cannot
  monkeypatch how the runtime serialises its report, as it could ``torch.save``.
* A **sealed** payload (what the sandboxed child sends) starts with the HMAC-SHA256 of
  the rest under a key the grader makes for that child. Student code can write bytes to
  the child's pipe but does not hold the key, so the grader reads only what the runtime
  said; anything else is dropped as forged. Only a sealed payload whose MAC checks is
  unmarshalled (marshal is not meant for hostile bytes).
* **Values** (the student's results, hidden-case arguments) become plain data with
  ``to_plain`` and come back with ``from_plain``: tensors as dtype, shape and raw bytes;
  anything else the student returns as a short description (``Opaque``).
"""
from __future__ import annotations

import hashlib
import hmac
import marshal
import numbers
import os
import struct

import torch

__all__ = [
    "MAX_FRAME", "MAX_ELEMENTS", "MAX_TEXT", "Framer", "frame", "seal", "unseal", "new_key",
    "to_plain", "from_plain", "to_json", "from_json", "Opaque", "clip",
]

_LENGTH = struct.Struct(">I")
MAX_FRAME = 48 * 2**20
MAX_ELEMENTS = 2**22  # a result tensor larger than this is described, not shipped
MAX_TEXT = 2000
_MAC = 32
_TENSOR = "\x00tensor"
_OPAQUE = "\x00opaque"
_DEPTH = 4
_ITEMS = 10_000


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ... (truncated)"


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"a frame of {len(payload)} bytes is over the limit")
    return _LENGTH.pack(len(payload)) + payload


class Framer:
    """Cuts a byte stream into payloads. ``broken`` once a length is impossible: the rest
    of that stream is ignored."""

    def __init__(self, limit: int = MAX_FRAME):
        self.buffer = bytearray()
        self.limit = limit
        self.broken = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.broken:
            return []
        self.buffer += data
        payloads = []
        while len(self.buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self.buffer)
            if size > self.limit:
                self.broken = True
                self.buffer.clear()
                break
            if len(self.buffer) < _LENGTH.size + size:
                break
            payloads.append(bytes(self.buffer[_LENGTH.size:_LENGTH.size + size]))
            del self.buffer[:_LENGTH.size + size]
        return payloads


def seal(key: bytes, message) -> bytes:
    """The grader's side of sealing (tests forge with it). Inside the sandbox the runtime
    seals with functions it captured before any student code ran, not with this one."""
    body = marshal.dumps(message)
    return hmac.digest(key, body, "sha256") + body


def unseal(key: bytes, payload: bytes):
    """The message in a sealed payload; ValueError when it was not sealed with ``key``."""
    body = payload[_MAC:]
    if len(payload) < _MAC or not hmac.compare_digest(payload[:_MAC], hmac.digest(key, body, "sha256")):
        raise ValueError("not sealed by the sandbox runtime")
    return marshal.loads(body)


def new_key() -> bytes:
    return hashlib.sha256(os.urandom(32)).digest()


# --- values -------------------------------------------------------------------------------

class Opaque:
    """Stands for a returned object that cannot be shipped as itself: it prints as that
    object did, and ``type(x).__name__`` is that object's type name."""

    def __init__(self, text: str):
        self._text = text

    def __repr__(self) -> str:
        return self._text


def _opaque(value, text: str | None = None) -> dict:
    if text is None:
        try:
            text = repr(value)
        except BaseException as exc:  # a student's __repr__ may raise anything
            text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    try:
        kind = type(value).__name__
        kind = kind if type(kind) is str else "object"
    except BaseException:
        kind = "object"
    return {_OPAQUE: (clip(kind, 80), clip(str(text), 300))}


# Taken now (a student may replace torch._C's attribute later). It turns off a returned
# tensor subclass's __torch_function__, not the measuring mode.
_NO_SUBCLASS = torch._C.DisableTorchFunctionSubclass


def memory_order(tensor: torch.Tensor) -> tuple[int, ...] | None:
    """The axes in memory order where ``tensor`` is a permutation of a dense tensor other
    than its own order (a transpose, channels-last); None otherwise."""
    if tensor.is_contiguous() or tensor.numel() < 2:
        return None
    order = tuple(sorted(range(tensor.dim()), key=lambda d: (-tensor.stride(d), d)))
    return order if tensor.permute(order).is_contiguous() else None


def _laid_out(tensor: torch.Tensor, shape: tuple, order) -> torch.Tensor:
    """Flat data in memory order back to ``shape`` with the axes' memory ``order``."""
    order = tuple(int(d) for d in order)
    if sorted(order) != list(range(len(shape))):
        raise ValueError("bad axis order")
    inverse = tuple(order.index(d) for d in range(len(shape)))
    return tensor.reshape(tuple(shape[d] for d in order)).permute(inverse)


def to_plain(value, depth: int = 0):
    """``value`` as plain data for marshal. Exact type checks: a student's subclass of
    list or int cannot run code here.

    Not convlab.checks.values' walk, on purpose: that one (for the grader's own cases and
    values) accepts subclasses and raises past its depth; this one reads a student's value
    in the runtime, where a subclass's ``__iter__`` would run student code, and it must
    never raise: what is too deep (``_DEPTH``), too long (``_ITEMS``) or too large becomes
    an ``Opaque`` description. ``from_plain``/``from_json`` likewise parse hostile bytes
    with their own checks of every field."""
    if isinstance(value, torch.Tensor):
        with _NO_SUBCLASS():
            tensor = torch.Tensor.as_subclass(value, torch.Tensor).detach()
            if tensor.numel() > MAX_ELEMENTS:
                return _opaque(value, f"a tensor of shape {tuple(tensor.shape)} (too large to compare)")
            if tensor.layout != torch.strided:
                tensor = tensor.to_dense()
            device = tensor.device.type
            if device == "meta":  # a shape and a dtype, no values: compared as such
                return {_TENSOR: (str(tensor.dtype).replace("torch.", ""), tuple(tensor.shape), device, b"")}
            cpu = tensor.to("cpu")
            if cpu.dtype == torch.bfloat16 or cpu.is_complex() or cpu.is_quantized:
                return _opaque(value, f"a {cpu.dtype} tensor of shape {tuple(cpu.shape)}")
            # A transposed or channels-last tensor keeps its layout (answers are tried on
            # such inputs): its data is sent in memory order with that order of the axes.
            order = memory_order(cpu)
            dense = cpu.permute(order).contiguous() if order is not None else cpu.contiguous()
            data = dense.reshape(-1).view(torch.uint8).numpy().tobytes() if dense.numel() else b""
            fields = (str(cpu.dtype).replace("torch.", ""), tuple(cpu.shape), device, data)
            return {_TENSOR: fields if order is None else (*fields, order)}
    kind = type(value)
    if value is None or kind in (bool, int, float):
        if kind is int and abs(value) > 2**62:
            return _opaque(value, f"an int of {value.bit_length()} bits")
        return value
    if kind is str:
        return clip(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"):  # numpy 2 / 1
        return bool(value)  # compare_outputs accepts numpy's bool as a bool
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return to_plain(int(value), depth)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind in (list, tuple) and depth < _DEPTH and len(value) <= _ITEMS:
        items = [to_plain(item, depth + 1) for item in value]
        return items if kind is list else tuple(items)
    return _opaque(value)


def to_json(value) -> str:
    """A value as JSON text, for the one exchange student code may start itself (a call of
    a substituted callee, see inside.py): JSON, because the grader must read it unsealed."""
    import base64
    import json

    def convert(v):
        plain = v
        if isinstance(v, dict) and _TENSOR in v:
            dtype, shape, device, data, *order = v[_TENSOR]
            return {"t": [dtype, list(shape), device, base64.b64encode(data).decode("ascii"),
                          *[list(o) for o in order]]}
        if isinstance(v, dict) and _OPAQUE in v:
            return {"o": list(v[_OPAQUE])}
        if isinstance(v, (list, tuple)):
            return {"l": [convert(i) for i in v], "tuple": isinstance(v, tuple)}
        return plain

    return json.dumps(convert(to_plain(value)))


def from_json(text: str | bytes, max_elements: int = MAX_ELEMENTS):
    """The value of ``to_json`` text; ValueError for anything else (hostile input)."""
    import base64
    import json

    def convert(v, depth=0):
        if depth > _DEPTH + 1:
            raise ValueError("nested too deeply")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is dict and set(v) == {"t"}:
            dtype, shape, device, data, *order = v["t"]
            shape = tuple(int(s) for s in shape)
            count = 1
            for s in shape:
                count *= s
            if dtype not in _DTYPES or len(shape) > 8 or min(shape, default=1) < 0 or count > max_elements:
                raise ValueError("bad tensor")
            if len(order) > 1:
                raise ValueError("bad tensor")
            return {_TENSOR: (dtype, shape, str(device), base64.b64decode(data),
                              *[tuple(int(d) for d in o) for o in order])}
        if type(v) is dict and set(v) == {"o"}:
            return {_OPAQUE: (str(v["o"][0]), str(v["o"][1]))}
        if type(v) is dict and set(v) == {"l", "tuple"}:
            items = [convert(i, depth + 1) for i in v["l"]]
            return tuple(items) if v["tuple"] else items
        raise ValueError("unexpected JSON value")

    try:
        return from_plain(convert(json.loads(text)), lambda device: False)
    except (RecursionError, TypeError, KeyError, IndexError, OverflowError, RuntimeError) as exc:
        raise ValueError(f"unreadable value ({type(exc).__name__})") from None


_DTYPES = {name: getattr(torch, name) for name in (
    "float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")}


def from_plain(value, device_ok=lambda device: device == "cpu"):
    """Plain data back to values; tensors return to their device where ``device_ok``."""
    if isinstance(value, dict):
        if _TENSOR in value:
            dtype, shape, device, data, *order = value[_TENSOR]
            if device == "meta":
                return torch.empty(tuple(int(n) for n in shape), dtype=_DTYPES[dtype], device="meta")
            tensor = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
            shape = tuple(int(s) for s in shape)
            tensor = tensor.view(_DTYPES[dtype])
            if len(order) > 1:
                raise ValueError("bad tensor")
            tensor = _laid_out(tensor, shape, order[0]) if order else tensor.reshape(shape)
            return tensor.to(device) if device != "cpu" and device_ok(device) else tensor
        if _OPAQUE in value:
            kind, text = value[_OPAQUE]
            return type(str(kind), (Opaque,), {})(str(text))
        raise ValueError("unexpected dict in a value")
    if isinstance(value, list):
        return [from_plain(v, device_ok) for v in value]
    if isinstance(value, tuple):
        return tuple(from_plain(v, device_ok) for v in value)
    if value is None or type(value) in (bool, int, float, str):
        return value
    raise ValueError(f"unexpected {type(value).__name__} in a value")
