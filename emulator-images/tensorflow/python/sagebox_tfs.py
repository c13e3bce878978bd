"""SageMaker's TensorFlow Serving container, emulated in one process.

The real container runs TensorFlow Serving (REST on :8501), nginx on :8080 with a JavaScript front
(tensorflowServing.js) and, when /opt/ml/model/code/inference.py exists, a gunicorn "python
service". Here one gunicorn worker serves both ports:

- 127.0.0.1:8501 is TensorFlow Serving's REST API over the SavedModels loaded with TensorFlow:
  POST /v1/models/<name>[/versions/<n>]:predict with {"instances": [...]} (row format, answered
  with {"predictions": [...]}) or {"inputs": ...} (columnar, answered with {"outputs": ...}),
  "signature_name", {"b64": ...} strings, TFS's number formatting and its {"error": "..."} bodies
  and status codes; GET /v1/models/<name>[/versions/<n>][/metadata].
- 0.0.0.0:8080 is SageMaker's side: GET /ping (200 once the default model is AVAILABLE, 502
  before) and POST /invocations. Without inference.py, requests go through the JavaScript front's
  conversions: application/json (TFS JSON as is, JSON lines and bare lists wrapped into
  "instances"), text/csv (rows become instances), anything else 415; the model, version and
  method come from X-Amzn-SageMaker-Custom-Attributes (tfs-model-name, tfs-model-version,
  tfs-method). With inference.py, its handler(data, context), or input_handler / output_handler
  around a POST to context.rest_uri, answer as the python service does (errors: 500 with
  {"error": "..."}); code/requirements.txt is installed first (offline, from the wheelhouse) unless
  code/lib exists, and code/ and code/lib are importable.

Models: every saved_model.pb under /opt/ml/model whose folder has a numeric name is a version of
the model named after the folder above it (/opt/ml/model/1 → "model", export/Servo/1 → "Servo");
all versions load, requests without a version use the highest. The default model is
SAGEMAKER_TFS_DEFAULT_MODEL_NAME, else the first model found.
"""
import base64
import collections
import io
import json
import logging
import math
import os
import re
import sys
import threading
import traceback

log = logging.getLogger("sagebox.tfs")

MODEL_BASE = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "model")
CODE_DIR = os.path.join(MODEL_BASE, "code")
INFERENCE_PATH = os.path.join(CODE_DIR, "inference.py")
REST_PORT = int(os.environ.get("TFS_REST_PORTS", "8501").split(",")[0])
GRPC_PORT = os.environ.get("TFS_GRPC_PORTS", "9000").split(",")[0]
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
DEFAULT_SIGNATURE = "serving_default"
JSON_TYPES = ("application/json", "application/jsonlines", "application/jsons")

# TensorFlow Serving's mapping of status codes to HTTP statuses (http_rest_api_handler).
HTTP_STATUS = {
    "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
    "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}


class TFSError(Exception):
    """A TensorFlow Serving status: code name (INVALID_ARGUMENT, ...) and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        return HTTP_STATUS.get(self.code, 500)


def invalid(*parts):
    return TFSError("INVALID_ARGUMENT", "".join(str(p) for p in parts))


def error_body(message):
    return json.dumps({"error": message})


# ---------------------------------------------------------------- finding SavedModels

def _saved_model_files(path):
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        if e.is_dir():
            yield from _saved_model_files(e.path)
        elif e.name == "saved_model.pb":
            yield e.path


def find_models(base=MODEL_BASE):
    """Model base paths: the folders holding numeric version folders with a saved_model.pb."""
    models = []
    base = os.path.normpath(base)
    for f in _saved_model_files(base):
        version_dir = os.path.dirname(f)
        model_path = os.path.dirname(version_dir)
        inside = model_path == base or model_path.startswith(base + os.sep)
        if inside and re.match(r"^\d+$", os.path.basename(version_dir)) and model_path not in models:
            models.append(model_path)
    return models


def find_model_versions(model_path):
    return sorted(int(v) for v in os.listdir(model_path)
                  if v.isdigit() and os.path.isfile(os.path.join(model_path, v, "saved_model.pb")))


# ---------------------------------------------------------------- JSON → tensors (json_tensor.cc)

_TYPE_NAMES = {
    "float32": "float", "float64": "double", "int32": "int32", "int16": "int16", "int8": "int8",
    "uint8": "uint8", "string": "string", "int64": "int64", "bool": "bool", "uint32": "uint32",
    "uint64": "uint64", "float16": "half", "bfloat16": "bfloat16",
}
_INT_RANGES = {
    "int32": (-(2 ** 31), 2 ** 31 - 1), "int16": (-(2 ** 31), 2 ** 31 - 1), "int8": (-(2 ** 31), 2 ** 31 - 1),
    "uint8": (-(2 ** 31), 2 ** 31 - 1), "int64": (-(2 ** 63), 2 ** 63 - 1), "uint32": (0, 2 ** 32 - 1),
    "uint64": (0, 2 ** 64 - 1),
}
_FLOAT_LIMITS = {"float32": (2 ** 24 - 1, 3.4028234663852886e38), "float64": (2 ** 53 - 1, sys.float_info.max)}


def type_string(dtype):
    return _TYPE_NAMES.get(dtype, dtype)


def json_value_string(val):
    try:
        return json.dumps(val, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(val)


def json_type_string(val):
    if val is None:
        return "Null"
    if val is True:
        return "True"
    if val is False:
        return "False"
    if isinstance(val, dict):
        return "Object"
    if isinstance(val, list):
        return "Array"
    if isinstance(val, str):
        return "String"
    return "Number"


def _type_error(val, dtype):
    return invalid("JSON Value: ", json_value_string(val), " Type: ", json_type_string(val),
                   " is not of expected type: ", type_string(dtype))


def is_base64_object(val):
    return isinstance(val, dict) and len(val) == 1 and isinstance(val.get("b64"), str)


def _decode_base64(val):
    if not is_base64_object(val):
        raise invalid("JSON Value: ", json_value_string(val), " not formatted correctly for base64 data")
    try:
        return base64.b64decode(val["b64"], validate=True)
    except (ValueError, TypeError):
        raise invalid("Unable to base64 decode") from None


def _add_value(val, dtype, out):
    is_number = isinstance(val, (int, float)) and not isinstance(val, bool)
    if dtype in _FLOAT_LIMITS:
        if not is_number:
            raise _type_error(val, dtype)
        max_int, max_float = _FLOAT_LIMITS[dtype]
        if isinstance(val, int):
            if abs(val) > max_int:
                raise invalid("Cannot convert JSON value: ", json_value_string(val), " to ",
                              type_string(dtype), " without loss of precision.")
        elif math.isfinite(val) and abs(val) > max_float:
            raise invalid("Cannot convert JSON value: ", json_value_string(val), " to ",
                          type_string(dtype), " without loss of precision.")
        out.append(float(val))
    elif dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[dtype]
        if not (is_number and isinstance(val, int) and lo <= val <= hi):
            raise _type_error(val, dtype)
        out.append(val)
    elif dtype == "string":
        if not isinstance(val, str):
            raise _type_error(val, dtype)
        out.append(val.encode("utf-8"))
    elif dtype == "bool":
        if not isinstance(val, bool):
            raise _type_error(val, dtype)
        out.append(val)
    else:
        raise TFSError("UNIMPLEMENTED", "Conversion of JSON Value: %s to type: %s"
                       % (json_value_string(val), type_string(dtype)))


def dense_shape(val):
    shape = []
    while isinstance(val, list):
        shape.append(len(val))
        if not val:
            break
        val = val[0]
    return shape


def _fill(val, level, shape, dtype, out):
    rank = len(shape)
    if not isinstance(val, list):
        if level != rank:
            raise invalid("JSON Value: ", json_value_string(val), " found at incorrect level: ", level + 1,
                          " in the JSON DOM. Expected at level: ", rank)
        if isinstance(val, dict):
            if dtype != "string":
                raise _type_error(val, dtype)
            out.append(_decode_base64(val))
        else:
            _add_value(val, dtype, out)
        return
    if level >= rank:
        raise invalid("Encountered list at unexpected level: ", level, " expected < ", rank)
    if len(val) != shape[level]:
        raise invalid("Encountered list at unexpected size: ", len(val), " at level: ", level,
                      " expected size: ", shape[level])
    for v in val:
        _fill(v, level + 1, shape, dtype, out)


def json_to_values(val, dtype):
    """A JSON value → (flat list of values, shape), with TensorFlow Serving's checks."""
    shape = dense_shape(val)
    out = []
    _fill(val, 0, shape, dtype, out)
    return out, shape


def tensors_from_instances(instances, inputs):
    """Row format: each instance is one batch element (a value/list, or an object of named inputs)."""
    names = sorted(inputs)
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple "
                      "input tensors required as per tensorinfo_map")

    def is_element_object(v):
        return isinstance(v, dict) and not is_base64_object(v)

    objects = is_element_object(instances[0])
    values = collections.OrderedDict()
    shapes = {}

    def add(item, name):
        if name not in inputs:
            raise invalid("JSON object: does not have named input: ", name)
        flat, shape = json_to_values(item, inputs[name])
        if name not in shapes:
            shapes[name] = shape
            values[name] = []
        elif _size(shapes[name]) != len(flat):
            raise invalid("Expecting tensor size: ", _size(shapes[name]), " but got: ", len(flat))
        elif shapes[name] != shape:
            raise invalid("Expecting shape ", _shape_string(shapes[name]), " but got: ", _shape_string(shape))
        values[name].extend(flat)

    for count, elem in enumerate(instances):
        if objects:
            if not is_element_object(elem):
                raise invalid("Expecting object but got list at item ", count, " of input list")
            for name, item in elem.items():
                try:
                    add(item, name)
                except TFSError as e:
                    raise invalid("Failed to process element: ", count, " key: ", name,
                                  " of 'instances' list. Error: ", _status_string(e)) from None
            if set(elem) != set(names):
                raise invalid("Failed to process element: ", count, " of 'instances' list. JSON object: ",
                              json_value_string(elem), " must only have keys: ", ",".join(names))
        else:
            if is_element_object(elem):
                raise invalid("Expecting value/list but got object at item ", count, " of input list")
            try:
                add(elem, names[0])
            except TFSError as e:
                raise invalid("Failed to process element: ", count, " of 'instances' list. Error: ",
                              _status_string(e)) from None
    batch = len(instances)
    return {name: (flat, [batch] + shapes[name]) for name, flat in values.items()}


def tensors_from_inputs(val, inputs):
    """Columnar format: one value for the only input, or an object of named inputs."""
    if not isinstance(val, dict) or is_base64_object(val):
        if len(inputs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple "
                          "input tensors required as per tensorinfo_map")
        name = sorted(inputs)[0]
        return {name: json_to_values(val, inputs[name])}
    out = {}
    for name in sorted(inputs):
        if name not in val:
            raise invalid("Missing named input: ", name, " in 'inputs' object.")
        out[name] = json_to_values(val[name], inputs[name])
    return out


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _shape_string(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _status_string(e):
    return "%s: %s" % (e.code, e.message)


# ---------------------------------------------------------------- tensors → JSON

def _format_decimal(v, np_type, digits):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "-Infinity" if v < 0 else "Infinity"
    s = "%g" % v
    if np_type(float(s)) != np_type(v):
        s = "%.*g" % (digits, v)
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def _scalar_writer(array, as_bytes):
    import numpy as np

    kind = array.dtype
    if kind == np.float32:
        return lambda v: _format_decimal(v, np.float32, 9)
    if kind == np.float64:
        return lambda v: _format_decimal(v, np.float64, 17)
    if kind == np.bool_:
        return lambda v: "true" if v else "false"
    if kind.kind in "iu":
        return lambda v: str(int(v))
    if kind.kind in "OSU":
        if as_bytes:
            return lambda v: json.dumps({"b64": base64.b64encode(_to_bytes(v)).decode("ascii")})
        return lambda v: json.dumps(_to_bytes(v).decode("utf-8", "replace"))
    raise invalid("Failed to write JSON value for tensor type: ", type_string(str(kind)))


def _to_bytes(v):
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def tensor_json(array, as_bytes=False):
    """A numpy array as TensorFlow Serving writes it: nested lists, floats with TFS's digits."""
    write = _scalar_writer(array, as_bytes)

    def rec(a):
        if a.ndim == 0:
            return write(a.item() if a.dtype.kind not in "OSU" else a[()])
        if a.ndim == 1:
            return "[" + ", ".join(write(x) for x in (a.tolist() if a.dtype.kind not in "OSU" else a)) + "]"
        return "[" + ", ".join(rec(x) for x in a) + "]"

    return rec(array)


def row_format(outputs):
    batch = 0
    for name in sorted(outputs):
        arr = outputs[name]
        if arr.ndim == 0:
            raise invalid("Tensor name: ", name, " has no shape information ")
        if arr.shape[0] < 1:
            raise invalid("Tensor name: ", name, " has invalid batch size: ", arr.shape[0])
        if batch and batch != arr.shape[0]:
            raise invalid("Tensor name: ", name, " has inconsistent batch size: ", arr.shape[0],
                          " expecting: ", batch)
        batch = arr.shape[0]
    names = sorted(outputs)
    items = []
    for i in range(batch):
        if len(names) > 1:
            items.append("{" + ", ".join("%s: %s" % (json.dumps(n), tensor_json(outputs[n][i], n.endswith("_bytes")))
                                         for n in names) + "}")
        else:
            items.append(tensor_json(outputs[names[0]][i], names[0].endswith("_bytes")))
    return '{"predictions": [' + ", ".join(items) + "]}"


def columnar_format(outputs):
    names = sorted(outputs)
    if len(names) > 1:
        body = "{" + ", ".join("%s: %s" % (json.dumps(n), tensor_json(outputs[n], n.endswith("_bytes")))
                               for n in names) + "}"
    else:
        body = tensor_json(outputs[names[0]], names[0].endswith("_bytes"))
    return '{"outputs": ' + body + "}"


# ---------------------------------------------------------------- the model server

class Signature:
    def __init__(self, name, fn, method_name):
        self.name = name
        self.fn = fn
        self.method_name = method_name
        _, kwargs = fn.structured_input_signature
        self.inputs = {k: spec.dtype.name for k, spec in kwargs.items()}
        self.input_dtypes = {k: spec.dtype for k, spec in kwargs.items()}


class Servable:
    def __init__(self, name, version, path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name, self.version, self.path = name, version, path
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        self.signature_defs = proto.meta_graphs[0].signature_def if proto.meta_graphs else {}
        self.loaded = tf.saved_model.load(path)
        self.signatures = {}
        for sig_name, fn in self.loaded.signatures.items():
            method = self.signature_defs[sig_name].method_name if sig_name in self.signature_defs else ""
            self.signatures[sig_name] = Signature(sig_name, fn, method)

    def signature(self, name):
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise TFSError("FAILED_PRECONDITION", 'Serving signature name: "%s" not found in signature def' % name)
        return self.signatures[name]


class ModelServer:
    """TensorFlow Serving's model manager and REST handler, for the models under /opt/ml/model."""

    def __init__(self, model_paths):
        self.model_paths = {os.path.basename(p): p for p in model_paths}
        self.versions = {name: find_model_versions(p) for name, p in self.model_paths.items()}
        self.servables = {}  # (name, version) → Servable
        self.states = {(n, v): ("START", "") for n, vs in self.versions.items() for v in vs}
        self.ready = threading.Event()
        self.failed = None

    def load_all(self):
        for name, versions in self.versions.items():
            for v in versions:
                path = os.path.join(self.model_paths[name], str(v))
                self.states[(name, v)] = ("LOADING", "")
                try:
                    self.servables[(name, v)] = Servable(name, v, path)
                except Exception as e:  # noqa: BLE001 - reported as the version's state
                    traceback.print_exc()
                    self.states[(name, v)] = ("END", "%s: %s" % (type(e).__name__, e))
                    self.failed = "Loading servable: {name: %s version: %d} failed: %s" % (name, v, e)
                    raise
                self.states[(name, v)] = ("AVAILABLE", "")
                log.info("Successfully loaded servable version {name: %s version: %d} from %s", name, v, path)
        self.ready.set()

    def _request_string(self, name, version):
        return "Specific(%s, %s)" % (name, version) if version is not None else "Latest(%s)" % name

    def servable(self, name, version=None, label=None):
        if label is not None:
            raise invalid("Unrecognized servable version label: ", label)
        available = sorted(v for (n, v) in self.servables if n == name)
        if version is None and available:
            return self.servables[(name, available[-1])]
        if version is not None and (name, int(version)) in self.servables:
            return self.servables[(name, int(version))]
        raise TFSError("NOT_FOUND", "Servable not found for request: %s" % self._request_string(name, version))

    def is_available(self, name):
        versions = [s for (n, _), s in self.states.items() if n == name]
        return bool(versions) and all(state == "AVAILABLE" for state, _ in versions)

    # ---------------------------------------------------------- REST
    def status(self, name, version=None):
        keys = sorted(v for (n, v) in self.states if n == name and (version is None or v == int(version)))
        if not keys:
            raise TFSError("NOT_FOUND", "Could not find any versions of model %s" % name
                           if version is None else "Could not find version %s of model %s" % (version, name))
        items = []
        for v in sorted(keys, reverse=True):
            state, message = self.states[(name, v)]
            code = "OK" if not message else "UNKNOWN"
            items.append({"version": str(v), "state": state, "status": {"error_code": code, "error_message": message}})
        return json.dumps({"model_version_status": items}, indent=1)

    def metadata(self, name, version=None, label=None):
        from google.protobuf import json_format

        servable = self.servable(name, version, label)
        defs = {k: json_format.MessageToDict(v) for k, v in servable.signature_defs.items()}
        return json.dumps({
            "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
            "metadata": {"signature_def": {"signature_def": defs,
                                           "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap"}},
        }, indent=1)

    def predict(self, name, version, label, body):
        servable = self.servable(name, version, label)
        doc = parse_json(body)
        signature = servable.signature(_signature_name(doc))
        if not signature.inputs:
            raise invalid("Failed to get input map for signature: ", _signature_name(doc) or "DEFAULT")
        has_instances, has_inputs = "instances" in doc, "inputs" in doc
        if has_instances and has_inputs:
            raise invalid("JSON Value: ", json_value_string(doc),
                          " Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
        if has_instances:
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise invalid("JSON Value: ", json_value_string(doc), " Excepting 'instances' to be an list/array")
            if not instances:
                raise invalid("JSON Value: ", json_value_string(doc), " No values in 'instances' array")
            tensors, row = tensors_from_instances(instances, signature.inputs), True
        elif has_inputs:
            tensors, row = tensors_from_inputs(doc["inputs"], signature.inputs), False
        else:
            raise invalid("Missing 'inputs' or 'instances' key")
        outputs = run_signature(signature, tensors)
        return row_format(outputs) if row else columnar_format(outputs)

    def classify_or_regress(self, name, version, label, body, method):
        servable = self.servable(name, version, label)
        doc = parse_json(body)
        signature = servable.signature(_signature_name(doc))
        expected = "tensorflow/serving/%s" % method
        if signature.method_name != expected:
            kind = "classification" if method == "classify" else "regression"
            raise invalid("Expected %s signature method_name to be %s. Was: %s" % (kind, expected, signature.method_name))
        raise TFSError("UNIMPLEMENTED", "sagebox's TensorFlow Serving emulation answers :predict only, not :%s" % method)


def parse_json(body):
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    if not text:
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise invalid("JSON Parse error: %s at offset: %d" % (getattr(e, "msg", str(e)), getattr(e, "pos", 0))) from None
    if not isinstance(doc, dict):
        raise invalid("JSON Value: ", json_value_string(doc), " Is not object")
    return doc


def _signature_name(doc):
    name = doc.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise invalid("JSON Value: ", json_value_string(doc),
                      " not formatted correctly. 'signature_name' key must be a string value.")
    return name or ""


def run_signature(signature, tensors):
    import numpy as np
    import tensorflow as tf

    feed = {}
    for name, (flat, shape) in tensors.items():
        dtype = signature.input_dtypes[name]
        np_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
        feed[name] = tf.constant(np.array(flat, dtype=np_dtype).reshape(shape), dtype=dtype)
    try:
        result = signature.fn(**feed)
    except tf.errors.OpError as e:
        raise TFSError(_op_error_code(e), _op_message(e.message)) from None
    except (TypeError, ValueError) as e:
        raise invalid(str(e)) from None
    if not isinstance(result, dict):
        result = {"output_0": result}
    return {k: v.numpy() for k, v in result.items()}


def _op_message(message):
    """An eager error's message as TensorFlow Serving's session run reports it: without the
    "Graph execution error" preamble eager execution adds."""
    return re.sub(r"^Graph execution error:\s*(Detected at node .*?\n<stack traces unavailable>\n)?", "", message,
                  flags=re.S)


def _op_error_code(e):
    import tensorflow as tf

    for name in HTTP_STATUS:
        cls = getattr(tf.errors, "".join(p.capitalize() for p in name.split("_")) + "Error", None)
        if cls is not None and isinstance(e, cls):
            return name
    return "UNKNOWN"


_POST_PATH = re.compile(r"(?i)^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)$")
_GET_PATH = re.compile(r"(?i)^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?$")


def handle_rest(server, method, path, body):
    """TensorFlow Serving's REST API → (HTTP status, JSON text)."""
    try:
        if method == "POST":
            m = _POST_PATH.match(path)
            if m:
                name, version, label, verb = m.groups()
                if verb.lower() == "predict":
                    return 200, server.predict(name, version, label, body)
                return 200, server.classify_or_regress(name, version, label, body, verb.lower())
        elif method == "GET":
            m = _GET_PATH.match(path)
            if m and m.group(1):
                name, version, label, meta = m.groups()
                if meta:
                    return 200, server.metadata(name, version, label)
                if label is not None:
                    raise invalid("Unrecognized servable version label: ", label)
                return 200, server.status(name, version)
        raise invalid("Malformed request: ", method, " ", path)
    except TFSError as e:
        if e.code not in ("INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION"):
            log.warning("%s %s: %s: %s", method, path, e.code, e.message)
        return e.http_status, error_body(e.message)
    except Exception as e:  # noqa: BLE001 - an unexpected failure of the emulation itself
        traceback.print_exc()
        return 500, error_body("%s: %s" % (type(e).__name__, e))


# ---------------------------------------------------------------- SageMaker's front (tensorflowServing.js)

def parse_custom_attributes(header):
    attributes = {}
    if header:
        for kv in re.findall(r"tfs-[a-z\-]+=[^,]+", header):
            parts = kv.split("=")
            if len(parts) == 2:
                attributes[parts[0]] = parts[1]
    return attributes


def tfs_path(attributes, default_model, with_method=True):
    path = "/v1/models/" + attributes.get("tfs-model-name", default_model)
    if "tfs-model-version" in attributes:
        path += "/versions/" + attributes["tfs-model-version"]
    if with_method:
        path += ":" + attributes.get("tfs-method", "predict")
    return path


def _js_replace_first(s, old, new):
    """JavaScript's String.replace with a string pattern: the first occurrence only."""
    i = s.find(old)
    return s if i < 0 else s[:i] + new + s[i + len(old):]


def csv_to_instances(data):
    needs_quotes = re.match(r'^\s*("|[\d.Ee+\-]+.*)', data) is None
    lines = re.split(r"\r?\n", data.strip())
    builder = ['{"instances":[']
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line:
            multiple = "," in line
            parts = ["["] if multiple else []
            if needs_quotes:
                parts += ['"', _js_replace_first(_js_replace_first(line, '"', '\\"'), ",", '","'), '"']
            else:
                parts.append(line)
            if multiple:
                parts.append("]")
            builder.append("".join(parts))
            if i != len(lines) - 1:
                builder.append(",")
    builder.append("]}")
    return "".join(builder)


def json_to_tfs(data):
    if re.search(r'"(instances|inputs|examples)"\s*:', data):
        return data
    if re.search(r"[}\]]\s*[\[{]", data):
        lines = re.split(r"\r?\n", data.strip())
        builder = ['{"instances":']
        if len(lines) != 1:
            builder.append("[")
        for i, raw in enumerate(lines):
            line = raw.strip()
            if line:
                builder.append(("" if i == 0 else ",") + line)
        builder.append("}" if len(lines) == 1 else "]}")
        return "".join(builder)
    if not re.match(r"^\s*\[\s*\[", data):
        data = "[" + data + "]"
    return '{"instances":' + data + "}"


Context = collections.namedtuple(
    "Context",
    "model_name, model_version, method, rest_uri, grpc_port, channel, "
    "custom_attributes, request_content_type, accept_header, content_length",
)


class Front:
    """/ping and /invocations on :8080."""

    def __init__(self, server, default_model, handler=None):
        self.server = server
        self.default_model = default_model
        self.handler = handler

    def ping(self):
        if self.server.failed:
            return 502, "text/plain", self.server.failed + "\n"
        if not self.server.ready.is_set() or not self.server.is_available(self.default_model):
            return 502, "text/plain", ""
        return 200, "text/plain", ""

    def invoke(self, body, headers):
        if not self.server.ready.is_set():
            return 502, "application/json", error_body("model %s is not loaded yet" % self.default_model)
        if self.handler is not None:
            return self._python_service(body, headers)
        attributes = parse_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
        ct = headers.get("Content-Type")
        text = body.decode("utf-8", "replace")
        if ct in JSON_TYPES:
            tfs_body = json_to_tfs(text)
        elif ct == "text/csv":
            tfs_body = csv_to_instances(text)
        else:
            return 415, "application/json", '{"error": "Unsupported Media Type: %s"}' % (ct or "Unknown")
        path = tfs_path(attributes, self.default_model)
        status, out = handle_rest(self.server, "POST", path, tfs_body.encode("utf-8"))
        if status == 400:
            out = out.replace("\\'instances\\'", "'instances'")
        content_type = "application/json"
        accept = headers.get("Accept")
        if accept is not None:
            types = accept.strip().replace(" ", "", 1).split(",")
            if "application/jsonlines" in types or "application/json" in types:
                out = out.replace("\n", "")
                content_type = types[0]
        return status, content_type, out

    def _python_service(self, body, headers):
        attributes = parse_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
        uri = "http://localhost:%d%s" % (REST_PORT, tfs_path(attributes, self.default_model))
        context = Context(
            attributes.get("tfs-model-name"), attributes.get("tfs-model-version"), attributes.get("tfs-method"),
            uri, GRPC_PORT, None, headers.get(CUSTOM_ATTRIBUTES_HEADER),
            headers.get("Content-Type") or "application/json", headers.get("Accept") or "application/json",
            len(body),
        )
        try:
            result, content_type = self.handler(io.BytesIO(body), context)
        except Exception as e:  # noqa: BLE001 - the python service's answer to any handler error
            log.exception("exception handling request: %s", e)
            return 500, "application/json", json.dumps({"error": str(e)})
        return 200, content_type, result


def import_handlers(path=INFERENCE_PATH):
    """inference.py's handler, or input_handler + output_handler around a POST to TFS."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("inference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference"] = module
    spec.loader.exec_module(module)
    if hasattr(module, "handler"):
        return module.handler
    if hasattr(module, "input_handler") and hasattr(module, "output_handler"):
        import requests

        def handler(data, context):
            processed = module.input_handler(data, context)
            response = requests.post(context.rest_uri, data=processed)
            return module.output_handler(response, context)

        return handler
    raise NotImplementedError("Handlers are not implemented correctly in user script.")


# ---------------------------------------------------------------- the process

def make_wsgi(server, front):
    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
        port = int(environ.get("SERVER_PORT") or 0)
        if port == REST_PORT:
            status, text = handle_rest(server, method, path, body)
            content_type = "application/json"
        elif path == "/ping" and method == "GET":
            status, content_type, text = front.ping()
        elif path == "/invocations" and method == "POST":
            headers = {"Content-Type": environ.get("CONTENT_TYPE") or None, "Accept": environ.get("HTTP_ACCEPT"),
                       CUSTOM_ATTRIBUTES_HEADER: environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES")}
            status, content_type, text = front.invoke(body, headers)
        else:
            status, content_type, text = 404, "application/json", '{"error": "Not Found"}'
        payload = text.encode("utf-8") if isinstance(text, str) else (text or b"")
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 415: "Unsupported Media Type",
                  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway"}.get(status, "Status")
        start_response("%d %s" % (status, reason), [("Content-Type", content_type or "application/json"),
                                                     ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def _load_in_background(server):
    def run():
        try:
            server.load_all()
        except Exception:  # noqa: BLE001 - the failure is in the log; the container stops
            log.error("%s", server.failed)
            logging.shutdown()
            os._exit(3)  # gunicorn's "worker failed to boot": the arbiter stops

    threading.Thread(target=run, name="tfs-loader", daemon=True).start()


def prepare_python_service():
    """The python service's setup: code/ and code/lib importable, code/requirements.txt installed
    unless code/lib exists."""
    lib = os.path.join(CODE_DIR, "lib")
    for p in (lib, CODE_DIR):
        if os.path.isdir(p) and p not in sys.path:
            sys.path.insert(0, p)
    if os.path.isfile(os.path.join(CODE_DIR, "requirements.txt")):
        if os.path.isdir(lib):
            log.warning("loading modules in '%s', ignoring requirements.txt", lib)
        else:
            from sagebox_container import scriptmode

            log.info("installing packages from requirements.txt...")
            scriptmode.install_requirements(CODE_DIR)


def main():
    import gunicorn.app.base

    models = find_models()
    if not models:
        raise SystemExit("ValueError: no SavedModel bundles found!")
    default_model = os.environ.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME", "None")
    if default_model == "None":
        default_model = os.path.basename(models[0])
        log.info("using default model name: %s", default_model)
    python_service = os.path.exists(INFERENCE_PATH)
    log.info("PYTHON SERVICE: %s", python_service)
    if python_service:
        prepare_python_service()
    port = os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")
    threads = max(4, int(os.environ.get("SAGEMAKER_GUNICORN_THREADS", "1") or 1))
    timeout = int(os.environ.get("SAGEMAKER_GUNICORN_TIMEOUT_SECONDS", "30") or 30)
    for m in models:
        log.info("model %s: base path %s, versions %s", os.path.basename(m), m, find_model_versions(m))

    class Application(gunicorn.app.base.BaseApplication):
        def load_config(self):
            self.cfg.set("bind", ["0.0.0.0:%s" % port, "127.0.0.1:%d" % REST_PORT])
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", max(timeout, 1))
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("keepalive", 60)
            self.cfg.set("loglevel", "info")
            self.cfg.set("errorlog", "-")

        def load(self):
            server = ModelServer(models)
            handler = import_handlers() if python_service else None
            _load_in_background(server)
            return make_wsgi(server, Front(server, default_model, handler))

    Application().run()
