"""The Open Inference Protocol's (KServe V2) gRPC messages, encoded and decoded by hand (pure).

The `grpc` carrier sends `inference.GRPCInferenceService/ModelInfer` requests built from the
kserve api's V2 JSON body, and reads the responses back into that JSON shape, so the api's
messages and a run's prediction path (`outputs.0.data.0`) work as over HTTP. Only the few
messages it needs are here, written from the protocol's `.proto` (field numbers below); no
protobuf package and no model server is needed at run time. tests/targets/test_oip_wire.py
holds the bytes equal to those of MLServer's generated `dataplane_pb2`.

    ModelInferRequest   model_name 1, model_version 2, id 3, parameters 4 (map), inputs 5,
                        outputs 6, raw_input_contents 7
      InferInputTensor  name 1, datatype 2, shape 3 (packed int64), parameters 4, contents 5
      InferRequestedOutputTensor  name 1, parameters 2
    ModelInferResponse  model_name 1, model_version 2, id 3, parameters 4, outputs 5,
                        raw_output_contents 6
      InferOutputTensor name 1, datatype 2, shape 3, parameters 4, contents 5
    InferTensorContents bool 1, int 2, int64 3, uint 4, uint64 5, fp32 6, fp64 7, bytes 8
    InferParameter      bool_param 1, int64_param 2, string_param 3
    ModelReadyRequest   name 1, version 2;  ModelReadyResponse  ready 1

Encoding follows proto3's canonical form as the generated code writes it: fields in number
order, defaults (empty strings, empty lists) left out, repeated numbers packed, map entries in
the order given.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

INFER = "/inference.GRPCInferenceService/ModelInfer"
READY = "/inference.GRPCInferenceService/ModelReady"

# datatype -> (InferTensorContents field, how its values are written)
_CONTENTS: dict[str, tuple[int, str]] = {
    "BOOL": (1, "varint"), "INT8": (2, "varint"), "INT16": (2, "varint"), "INT32": (2, "varint"),
    "INT64": (3, "varint"), "UINT8": (4, "varint"), "UINT16": (4, "varint"), "UINT32": (4, "varint"),
    "UINT64": (5, "varint"), "FP32": (6, "f"), "FP64": (7, "d"), "BYTES": (8, "bytes"),
}
_FIELD_KIND = dict(_CONTENTS.values())
# raw contents (little-endian, as the protocol says): datatype -> struct code; BYTES are length-prefixed
_RAW = {"BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B", "UINT16": "H",
        "UINT32": "I", "UINT64": "Q", "FP16": "e", "FP32": "f", "FP64": "d"}
_SIGNED = {2, 3}   # int and int64 contents: negative values as 64-bit two's complement varints


class WireError(ValueError):
    """Bytes that are not the message they should be."""


# ------------------------------------------------------------------ primitives
def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _len(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _str(field: int, text: str | None) -> bytes:
    return _len(field, text.encode()) if text else b""


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _fields(buf: bytes) -> Iterable[tuple[int, int, Any]]:
    """(field, wire type, value) of one message: an int for varints, bytes for the others."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        field, wt = key >> 3, key & 7
        value: Any
        if wt == 0:
            value, pos = _read_varint(buf, pos)
        elif wt == 2:
            n, pos = _read_varint(buf, pos)
            value = buf[pos:pos + n]
            pos += n
        elif wt == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wt == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise WireError(f"wire type {wt} of field {field}")
        if pos > end:
            raise WireError(f"field {field} runs past the message")
        yield field, wt, value


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


# ------------------------------------------------------------------ encoding
def _flat(data: Any) -> list[Any]:
    if isinstance(data, list | tuple):
        out: list[Any] = []
        for x in data:
            out.extend(_flat(x))
        return out
    return [data]


def _contents(datatype: str, data: Any) -> bytes:
    values = _flat(data)
    if not values:
        return b""
    spec = _CONTENTS.get(datatype)
    if spec is None:
        raise WireError(f"datatype {datatype!r} has no typed contents; expected one of {', '.join(_CONTENTS)}")
    field, kind = spec
    if kind == "bytes":
        return b"".join(_len(field, v if isinstance(v, bytes) else str(v).encode()) for v in values)
    if kind == "varint":
        packed = b"".join(_varint(int(v)) for v in values)
    else:
        packed = struct.pack(f"<{len(values)}{kind}", *(float(v) for v in values))
    return _len(field, packed)


def _parameter(value: Any) -> bytes:
    # a oneof: the value is written even when it is its type's default (False, 0, "")
    if isinstance(value, bool):
        return _key(1, 0) + _varint(int(value))
    if isinstance(value, int):
        return _key(2, 0) + _varint(value)
    text = str(value).encode()
    return _key(3, 2) + _varint(len(text)) + text


def _parameters(field: int, params: dict[str, Any] | None) -> bytes:
    return b"".join(_len(field, _str(1, k) + _len(2, _parameter(v))) for k, v in (params or {}).items())


def _shape(field: int, shape: Iterable[int]) -> bytes:
    packed = b"".join(_varint(int(d)) for d in shape)
    return _len(field, packed) if packed else b""


def _input(tensor: dict[str, Any]) -> bytes:
    datatype = str(tensor.get("datatype", ""))
    contents = _contents(datatype, tensor.get("data", []))
    return (_str(1, tensor.get("name")) + _str(2, datatype) + _shape(3, tensor.get("shape", ()))
            + _parameters(4, tensor.get("parameters")) + (_len(5, contents) if contents else b""))


def encode_infer_request(request: dict[str, Any], model_name: str, model_version: str | None = None) -> bytes:
    """A `ModelInferRequest` from a V2 JSON request (`{"inputs": [...], "id", "parameters",
    "outputs"}`) to `model_name` (the JSON's own `model_name`/`model_version` are not read)."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list):
        raise WireError("a V2 request needs a list of 'inputs'")
    out = [_str(1, model_name), _str(2, model_version), _str(3, request.get("id")),
           _parameters(4, request.get("parameters"))]
    out += [_len(5, _input(t)) for t in inputs]
    out += [_len(6, _str(1, o.get("name")) + _parameters(2, o.get("parameters")))
            for o in request.get("outputs") or ()]
    return b"".join(out)


def encode_ready_request(name: str, version: str | None = None) -> bytes:
    """A `ModelReadyRequest`."""
    return _str(1, name) + _str(2, version)


def decode_ready_response(buf: bytes) -> bool:
    """`ModelReadyResponse.ready`."""
    return any(f == 1 and wt == 0 and v for f, wt, v in _fields(buf))


# ------------------------------------------------------------------ decoding
def _decode_parameter(buf: bytes) -> Any:
    value: Any = None
    for f, wt, v in _fields(buf):
        if f == 1 and wt == 0:
            value = bool(v)
        elif f == 2 and wt == 0:
            value = _signed(v)
        elif f == 3 and wt == 2:
            value = v.decode()
    return value


def _decode_entry(buf: bytes) -> tuple[str, Any]:
    key, value = "", None
    for f, _, v in _fields(buf):
        if f == 1:
            key = v.decode()
        elif f == 2:
            value = _decode_parameter(v)
    return key, value


def _numbers(field: int, wt: int, value: Any) -> list[Any]:
    """The values of one (packed or not) numeric contents field."""
    kind = _FIELD_KIND[field]
    if kind == "varint":
        if wt == 0:
            raw = [value]
        else:
            raw, pos = [], 0
            while pos < len(value):
                n, pos = _read_varint(value, pos)
                raw.append(n)
        if field == 1:
            return [bool(n) for n in raw]
        return [_signed(n) for n in raw] if field in _SIGNED else raw
    size = 4 if kind == "f" else 8
    return list(struct.unpack(f"<{len(value) // size}{kind}", value))


def _decode_contents(buf: bytes) -> list[Any]:
    data: list[Any] = []
    for f, wt, v in _fields(buf):
        if f == 8:
            data.append(v.decode("utf-8", "replace"))
        elif f in _FIELD_KIND:
            data.extend(_numbers(f, wt, v))
    return data


def _decode_raw(datatype: str, raw: bytes) -> list[Any]:
    if datatype == "BYTES":
        out, pos = [], 0
        while pos + 4 <= len(raw):
            (n,) = struct.unpack_from("<I", raw, pos)
            out.append(raw[pos + 4:pos + 4 + n].decode("utf-8", "replace"))
            pos += 4 + n
        return out
    code = _RAW.get(datatype)
    if code is None:
        raise WireError(f"raw contents of unknown datatype {datatype!r}")
    size = struct.calcsize(code)
    return list(struct.unpack(f"<{len(raw) // size}{code}", raw))


def _decode_output(buf: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "", "datatype": "", "shape": []}
    params: dict[str, Any] = {}
    data: list[Any] = []
    for f, wt, v in _fields(buf):
        if f == 1:
            out["name"] = v.decode()
        elif f == 2:
            out["datatype"] = v.decode()
        elif f == 3:
            out["shape"] += _numbers(3, wt, v)
        elif f == 4:
            k, val = _decode_entry(v)
            params[k] = val
        elif f == 5:
            data = _decode_contents(v)
    if params:
        out["parameters"] = params
    out["data"] = data
    return out


def decode_infer_response(buf: bytes) -> dict[str, Any]:
    """A `ModelInferResponse` as the V2 JSON response (`outputs[i].data` from the typed contents,
    or from `raw_output_contents[i]` when the server sent raw bytes)."""
    doc: dict[str, Any] = {"model_name": "", "outputs": []}
    params: dict[str, Any] = {}
    raws: list[bytes] = []
    for f, _, v in _fields(buf):
        if f == 1:
            doc["model_name"] = v.decode()
        elif f == 2:
            doc["model_version"] = v.decode()
        elif f == 3:
            doc["id"] = v.decode()
        elif f == 4:
            k, val = _decode_entry(v)
            params[k] = val
        elif f == 5:
            doc["outputs"].append(_decode_output(v))
        elif f == 6:
            raws.append(v)
    if params:
        doc["parameters"] = params
    for out, raw in zip(doc["outputs"], raws, strict=False):
        out["data"] = _decode_raw(out["datatype"], raw)
    return doc
