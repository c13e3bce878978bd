"""Request and response bodies of SageMaker containers.

Decoders turn a body and its Content-Type into a feature matrix (numpy, or scipy CSR for sparse
inputs); encoders turn arrays into the bodies the SageMaker inference toolkit produces. Content types
are compared without parameters ("text/csv; charset=utf-8", "text/csv;label_size=1").
"""
import io
import json

import numpy as np

from . import recordio

CSV = "text/csv"
LIBSVM = "text/libsvm"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
NPZ = "application/x-npz"
RECORDIO = "application/x-recordio-protobuf"
OCTET = "application/octet-stream"

_ALIASES = {
    "csv": CSV,
    "text/x-libsvm": LIBSVM,
    "libsvm": LIBSVM,
    "application/x-libsvm": LIBSVM,
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-protobuf": RECORDIO,
    "recordio-protobuf": RECORDIO,
}


class UnsupportedContentType(ValueError):
    """The body's Content-Type (or the requested Accept) is not one this container handles."""


def parse_content_type(value, default=None):
    """(media type lowercased without parameters, {param: value})."""
    if not value:
        return default, {}
    parts = [p.strip() for p in value.split(";")]
    media = parts[0].lower() or default
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return _ALIASES.get(media, media), params


def parse_accept(value, supported, default):
    """The first media type of an Accept header that is supported; `default` for */* or none."""
    if not value:
        return default
    for item in value.split(","):
        media, _ = parse_content_type(item)
        if media in ("*/*", "", None):
            return default
        if media in supported:
            return media
    raise UnsupportedContentType("Accept type %s is not supported; use one of %s" % (value, ", ".join(supported)))


# ---------------------------------------------------------------- decoders

def csv_matrix(data, dtype=np.float32):
    """Rows of comma-separated numbers → 2-D array (a single row stays 2-D)."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    text = text.strip()
    if not text:
        return np.zeros((0, 0), dtype=dtype)
    import pandas as pd

    frame = pd.read_csv(io.StringIO(text), header=None, dtype=np.float64, na_values=["", "nan", "NaN"])
    return frame.to_numpy(dtype=dtype)


def libsvm_matrix(data, n_features=None, want_labels=True):
    """libsvm lines (`label idx:val idx:val ...`, label optional in requests) → (CSR, labels|None).

    Indices are used as given (xgboost's convention); a line without a leading label has none.
    """
    import scipy.sparse

    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    rows, cols, vals, labels = [], [], [], []
    n_rows = 0
    max_col = -1
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        label = None
        if ":" not in tokens[0]:
            label = float(tokens[0])
            tokens = tokens[1:]
        labels.append(label)
        for tok in tokens:
            if ":" not in tok:
                continue
            idx, val = tok.split(":", 1)
            if idx == "qid":
                continue
            c = int(idx)
            rows.append(n_rows)
            cols.append(c)
            vals.append(float(val))
            max_col = max(max_col, c)
        n_rows += 1
    width = max(max_col + 1, n_features or 0)
    X = scipy.sparse.csr_matrix(
        (np.array(vals, dtype=np.float32), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
        shape=(n_rows, width),
    )
    y = None
    if want_labels and labels and all(lb is not None for lb in labels):
        y = np.array(labels, dtype=np.float32)
    return X, y


def _instance_features(inst):
    """One JSON instance → list of numbers or a sparse (keys, values, shape) triple."""
    if isinstance(inst, dict):
        if "features" in inst:
            return inst["features"]
        if "data" in inst and isinstance(inst["data"], dict):
            feats = inst["data"].get("features", inst["data"])
            if isinstance(feats, dict):
                if "keys" in feats:
                    return ("sparse", feats.get("keys") or [], feats.get("values") or [], feats.get("shape") or [])
                return feats.get("values", [])
            return feats
        if "values" in inst:
            return inst["values"]
        raise ValueError("JSON instance has no 'features'")
    return inst


def _rows_to_matrix(rows):
    if any(isinstance(r, tuple) and r and r[0] == "sparse" for r in rows):
        import scipy.sparse

        width = 0
        data, indices, indptr = [], [], [0]
        for r in rows:
            if isinstance(r, tuple):
                _, keys, vals, shape = r
                if shape:
                    width = max(width, int(shape[-1]))
            else:
                keys, vals = list(range(len(r))), r
            if keys:
                width = max(width, max(int(k) for k in keys) + 1)
            data.extend(float(v) for v in vals)
            indices.extend(int(k) for k in keys)
            indptr.append(len(indices))
        return scipy.sparse.csr_matrix(
            (np.array(data, dtype=np.float32), np.array(indices, dtype=np.int64), np.array(indptr)),
            shape=(len(rows), width),
        )
    arr = np.asarray(rows, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    return arr


def json_matrix(data):
    """SageMaker's JSON request shapes → 2-D array:
    {"instances": [{"features": [...]}, ...]}, {"instances": [[...], ...]}, {"features": [...]},
    {"instances": [{"data": {"features": {"keys": [...], "values": [...], "shape": [n]}}}]}, [[...], ...], [...].
    """
    obj = json.loads(data)
    if isinstance(obj, dict):
        if "instances" in obj:
            rows = [_instance_features(i) for i in obj["instances"]]
        elif "features" in obj or "data" in obj:
            rows = [_instance_features(obj)]
        else:
            raise ValueError("JSON body needs 'instances' or 'features'")
    elif isinstance(obj, list):
        if obj and not isinstance(obj[0], (list, dict)):
            rows = [obj]
        else:
            rows = [_instance_features(i) for i in obj]
    else:
        raise ValueError("JSON body must be an object or a list")
    return _rows_to_matrix(rows)


def jsonlines_matrix(data):
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    rows = [_instance_features(json.loads(line)) for line in text.splitlines() if line.strip()]
    return _rows_to_matrix(rows)


def npy_array(data):
    return np.load(io.BytesIO(data), allow_pickle=True)


def decode_matrix(data, content_type, feature_dim=None):
    """Body → 2-D feature matrix (labels in the body, if any, are dropped)."""
    media, _ = parse_content_type(content_type, CSV)
    if media == CSV:
        return csv_matrix(data)
    if media == LIBSVM:
        return libsvm_matrix(data, feature_dim, want_labels=False)[0]
    if media == JSON:
        return json_matrix(data)
    if media == JSONLINES:
        return jsonlines_matrix(data)
    if media == RECORDIO:
        return recordio.read_matrix(data, feature_dim, want_labels=False)[0]
    if media == NPY:
        arr = npy_array(data)
        return arr.reshape(1, -1) if arr.ndim == 1 else arr
    raise UnsupportedContentType("Content type %s is not supported" % content_type)


# ---------------------------------------------------------------- encoders (toolkit defaults)

def _tolist(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def array_to_json(obj):
    return json.dumps(_tolist(obj), default=_tolist)


def array_to_csv(obj):
    arr = np.asarray(_tolist(obj))
    buf = io.StringIO()
    if arr.ndim == 0:
        arr = arr.reshape(1)
    np.savetxt(buf, arr, delimiter=",", fmt="%s")
    return buf.getvalue()


def array_to_npy(obj):
    buf = io.BytesIO()
    np.save(buf, np.asarray(obj))
    return buf.getvalue()


def array_to_jsonlines(obj):
    items = _tolist(obj)
    if not isinstance(items, list):
        items = [items]
    return "".join(json.dumps(i, default=_tolist) + "\n" for i in items)


ENCODERS = {JSON: array_to_json, CSV: array_to_csv, NPY: array_to_npy, JSONLINES: array_to_jsonlines}


def decode_default(data, content_type):
    """The inference toolkit's default decoder: npy, csv, json (and jsonlines) → numpy array."""
    media, _ = parse_content_type(content_type, JSON)
    if media == NPY:
        return npy_array(data)
    if media == NPZ:
        return dict(np.load(io.BytesIO(data), allow_pickle=True))
    if media == CSV:
        return csv_matrix(data, dtype=np.float64)
    if media == JSON:
        return np.array(json.loads(data))
    if media == JSONLINES:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        return np.array([json.loads(line) for line in text.splitlines() if line.strip()])
    raise UnsupportedContentType("Content type %s is not supported by this model server" % content_type)


def encode_default(obj, accept):
    media, _ = parse_content_type(accept, JSON)
    if media not in ENCODERS:
        raise UnsupportedContentType("Accept type %s is not supported by this model server" % accept)
    return ENCODERS[media](obj)
