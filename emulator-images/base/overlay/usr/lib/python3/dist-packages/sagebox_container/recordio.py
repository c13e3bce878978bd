"""SageMaker's application/x-recordio-protobuf format, without the SDK or generated protobuf code.

Framing is MXNet RecordIO: each record is a little-endian uint32 magic 0xced7230a, a uint32 whose low
29 bits are the payload length (the top 3 bits a continuation flag), the payload, and zero padding
to a multiple of 4 bytes. The payload is a protobuf `Record` (sagemaker/amazon/record.proto):

    message Float32Tensor { repeated float  values = 1 [packed]; repeated uint64 keys = 2 [packed];
                            repeated uint64 shape = 3 [packed]; }
    message Float64Tensor { repeated double values = 1 [packed]; ...keys = 2, shape = 3 }
    message Int32Tensor   { repeated int32  values = 1 [packed]; ...keys = 2, shape = 3 }
    message Bytes  { repeated bytes value = 1; optional string content_type = 2; }
    message Value  { oneof value { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                                   Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    message Record { map<string, Value> features = 1; map<string, Value> label = 2;
                     optional string uid = 3; optional string metadata = 4; optional string configuration = 5; }

A dense tensor has only `values`; a sparse one has `keys` (flat indices) and `shape`. The writer
produces what `sagemaker.amazon.common.write_numpy_to_dense_tensor` and
`write_spmatrix_to_sparse_tensor` produce; the reader accepts packed and unpacked encodings.
"""
import struct

import numpy as np

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LEN_MASK = (1 << 29) - 1


# ---------------------------------------------------------------- RecordIO framing

def iter_records(data):
    """Yield the payloads of a RecordIO byte string (multi-part records joined)."""
    view = memoryview(data)
    pos, end = 0, len(data)
    parts = []
    while pos + 8 <= end:
        magic, lrec = struct.unpack_from("<II", view, pos)
        if magic != MAGIC:
            raise ValueError("invalid RecordIO magic number at offset %d" % pos)
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        pos += 8
        if pos + length > end:
            raise ValueError("truncated RecordIO record at offset %d" % (pos - 8))
        payload = bytes(view[pos:pos + length])
        pos += (length + 3) & ~3
        if cflag == 0:
            yield payload
        elif cflag == 1:
            parts = [payload]
        elif cflag == 2:
            parts.append(payload)
        else:
            parts.append(payload)
            yield _MAGIC_BYTES.join(parts)
            parts = []
    if pos != end and any(view[pos:end]):
        raise ValueError("trailing bytes after the last RecordIO record")


def frame(payload):
    pad = (-len(payload)) % 4
    return struct.pack("<II", MAGIC, len(payload)) + payload + b"\x00" * pad


# ---------------------------------------------------------------- protobuf wire format

def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """Yield (field number, wire type, value) for one message; LEN values are memoryviews."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos:pos + length]
            pos += length
        elif wire == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        yield field, wire, value


def _packed_varints(buf):
    out, pos, end = [], 0, len(buf)
    while pos < end:
        v, pos = _varint(buf, pos)
        out.append(v)
    return out


def _to_int32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class Tensor:
    """A decoded tensor: `values` (numpy), `keys` and `shape` (lists; empty when dense)."""

    __slots__ = ("values", "keys", "shape")

    def __init__(self, values, keys=(), shape=()):
        self.values, self.keys, self.shape = values, list(keys), list(shape)

    @property
    def is_sparse(self):
        return bool(self.keys)


def _decode_tensor(buf, kind):
    dtype = {2: "<f4", 3: "<f8", 7: None}[kind]
    chunks, ints, keys, shape = [], [], [], []
    for field, wire, value in _fields(buf):
        if field == 1:
            if kind == 7:
                if wire == 2:
                    ints.extend(_to_int32(v) for v in _packed_varints(value))
                else:
                    ints.append(_to_int32(value))
            else:
                chunks.append(np.frombuffer(bytes(value), dtype=dtype))
        elif field == 2:
            keys.extend(_packed_varints(value) if wire == 2 else [value])
        elif field == 3:
            shape.extend(_packed_varints(value) if wire == 2 else [value])
    if kind == 7:
        values = np.array(ints, dtype=np.int32)
    else:
        values = np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)
    return Tensor(values, keys, shape)


def _decode_value(buf):
    for field, _, value in _fields(buf):
        if field in (2, 3, 7):
            return _decode_tensor(value, field)
        if field == 9:
            items = [bytes(v) for f, _, v in _fields(value) if f == 1]
            return Tensor(items)
    return Tensor(np.zeros(0, dtype=np.float32))


def _decode_map_entry(buf):
    key, value = "", None
    for field, _, v in _fields(buf):
        if field == 1:
            key = bytes(v).decode("utf-8")
        elif field == 2:
            value = _decode_value(v)
    return key, value


def decode_record(payload):
    """One `Record` → {"features": {name: Tensor}, "label": {name: Tensor}, "uid": str|None}."""
    rec = {"features": {}, "label": {}, "uid": None}
    for field, _, value in _fields(memoryview(payload)):
        if field in (1, 2):
            k, v = _decode_map_entry(value)
            rec["features" if field == 1 else "label"][k] = v
        elif field == 3:
            rec["uid"] = bytes(value).decode("utf-8")
    return rec


def _key(field, wire):
    return _enc_varint((field << 3) | wire)


def _enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field, payload):
    return _key(field, 2) + _enc_varint(len(payload)) + payload


def encode_tensor(values, keys=None, shape=None, dtype=np.float32):
    """A `Value` holding a Float32Tensor (or Float64/Int32 by dtype) with optional keys/shape."""
    arr = np.asarray(values)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        kind, body = 3, arr.astype("<f8").tobytes()
    elif dtype.kind in "iu":
        kind = 7
        body = b"".join(_enc_varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in arr.ravel())
    else:
        kind, body = 2, arr.astype("<f4").tobytes()
    msg = _len_field(1, body) if arr.size else b""
    if keys is not None and len(keys):
        msg += _len_field(2, b"".join(_enc_varint(int(k)) for k in keys))
    if shape is not None and len(shape):
        msg += _len_field(3, b"".join(_enc_varint(int(s)) for s in shape))
    return _len_field(kind, msg)


def encode_record(features=None, label=None):
    """A `Record` from {name: encoded Value} maps (values made by `encode_tensor`)."""
    out = b""
    for field, mapping in ((1, features or {}), (2, label or {})):
        for name, value in mapping.items():
            entry = _len_field(1, name.encode("utf-8")) + _len_field(2, value)
            out += _len_field(field, entry)
    return out


# ---------------------------------------------------------------- numpy helpers

def _tensor_dtype(arr):
    if arr.dtype.kind in "iu":
        return np.int32
    if arr.dtype == np.float64:
        return np.float64
    return np.float32


def write_dense(array, labels=None):
    """RecordIO bytes for a 2-D array (one record per row), like write_numpy_to_dense_tensor."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError("expected a 2-D array, got shape %s" % (array.shape,))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != array.shape[0]:
            raise ValueError("labels must be 1-D with one label per row")
    fdt = _tensor_dtype(array)
    ldt = _tensor_dtype(labels) if labels is not None else None
    out = bytearray()
    for i, row in enumerate(array):
        label = None if labels is None else {"values": encode_tensor([labels[i]], dtype=ldt)}
        out += frame(encode_record({"values": encode_tensor(row, dtype=fdt)}, label))
    return bytes(out)


def write_sparse(matrix, labels=None):
    """RecordIO bytes for a scipy sparse matrix, like write_spmatrix_to_sparse_tensor."""
    import scipy.sparse

    csr = scipy.sparse.csr_matrix(matrix)
    n_rows, n_cols = csr.shape
    fdt = _tensor_dtype(csr.data)
    out = bytearray()
    for i in range(n_rows):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        feats = {"values": encode_tensor(csr.data[lo:hi], keys=csr.indices[lo:hi], shape=[n_cols], dtype=fdt)}
        label = None
        if labels is not None:
            label = {"values": encode_tensor([labels[i]], dtype=_tensor_dtype(np.asarray(labels)))}
        out += frame(encode_record(feats, label))
    return bytes(out)


def read_records(data):
    return [decode_record(p) for p in iter_records(data)]


def records_to_matrix(records, feature_dim=None, want_labels=True):
    """(X, y) from decoded records: X dense float32 unless some record is sparse (then CSR).

    `y` is None when no record carries a label (inference requests). A sparse record's width comes
    from its `shape`, else from `feature_dim`, else from the largest key seen.
    """
    if not records:
        return np.zeros((0, feature_dim or 0), dtype=np.float32), None
    sparse = any(r["features"].get("values") is not None and r["features"]["values"].is_sparse for r in records)
    labels = []
    have_labels = want_labels and all(r["label"].get("values") is not None for r in records)
    if have_labels:
        labels = np.array([float(r["label"]["values"].values[0]) for r in records], dtype=np.float32)
    if not sparse:
        rows = []
        for r in records:
            t = r["features"].get("values")
            if t is None:
                raise ValueError("record without a 'values' feature tensor")
            rows.append(np.asarray(t.values, dtype=np.float32))
        widths = {len(x) for x in rows}
        if len(widths) != 1:
            raise ValueError("records have different feature counts: %s" % sorted(widths))
        X = np.vstack(rows)
    else:
        import scipy.sparse

        data, indices, indptr = [], [], [0]
        width = feature_dim or 0
        for r in records:
            t = r["features"]["values"]
            if t.is_sparse:
                idx = np.asarray(t.keys, dtype=np.int64)
                if t.shape:
                    width = max(width, int(t.shape[-1]))
            else:
                idx = np.arange(len(t.values), dtype=np.int64)
            if len(idx):
                width = max(width, int(idx.max()) + 1)
            data.append(np.asarray(t.values, dtype=np.float32))
            indices.append(idx)
            indptr.append(indptr[-1] + len(idx))
        X = scipy.sparse.csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=(len(records), width)
        )
    return X, (labels if have_labels else None)


def read_matrix(data, feature_dim=None, want_labels=True):
    return records_to_matrix(read_records(data), feature_dim, want_labels)


def write_label_records(rows):
    """RecordIO bytes of response records: each row is {name: scalar or list}, under `label`,
    every value a Float32Tensor (the built-in algorithms' protobuf response shape)."""
    out = bytearray()
    for row in rows:
        label = {}
        for name, value in row.items():
            vals = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
            label[name] = encode_tensor(np.asarray(vals, dtype=np.float32))
        out += frame(encode_record(None, label))
    return bytes(out)
