"""Minimal valid SageMaker requests, built from the pinned botocore model itself.

`RequestBuilder(base).minimal_request(op, values)` gives the smallest request botocore's model
allows for `op`: exactly the input's required members, recursively (a nested structure gets only
its required members, a list or map its `min` entries), each value valid for its shape (enum
member, length bounds, the model's regular expression). The test of every operation
(test_all_operations.py) sends these, so a server answer that names a constraint ("must satisfy
regular expression pattern", "must not be null") points at a bug here, never at the server.

No copy of the model is kept: the shapes come from `botocore.session`, so a new pin of botocore
brings its operations and constraints with it.

Names: every member whose name ends in `Name` gets the builder's one base name where its shape
allows it, so requests refer to each other (`CreateTrial{TrialName: N, ExperimentName: N}` names
the experiment `N` made before). `values` carries what earlier answers said (a `DomainId`, a
`*Arn`): a member of that name reuses the value when it fits the member's shape.
"""

import datetime as _dt
import re
import uuid
from functools import lru_cache

import botocore.session

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"

# Enum choices that keep a request on the simple path where the model's first value would not
# (the first AppType is the long-retired JupyterServer; ml.m5.large runs everywhere).
PREFERRED_ENUM = ("JupyterLab", "ml.m5.large", "ml.t3.medium", "File", "S3Prefix", "Text",
                  "Model")

# Structures nested deeper than this are sent empty: no model shape needs more, and it stops a
# recursive shape whose recursion is required (none today) from looping.
MAX_DEPTH = 24


@lru_cache(maxsize=1)
def service_model():
    """The SageMaker model of the installed botocore (the suite pins botocore==1.44.8)."""
    return botocore.session.get_session().get_service_model("sagemaker")


def operation_names():
    """Every operation of the model, sorted."""
    return sorted(service_model().operation_names)


def new_base_name() -> str:
    """A per-run name: `sbx-` and six hex digits, valid for nearly every SageMaker name pattern
    (lower case, letters and digits joined by one hyphen, at most 63 characters)."""
    return f"sbx-{uuid.uuid4().hex[:6]}"


def kebab(word: str) -> str:
    """`TrainingJob` -> `training-job`: how SageMaker ARNs spell a resource kind."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", word).lower()


@lru_cache(maxsize=None)
def compiled(pattern):
    """The model's (Java) pattern as a Python regex, or None where `re` cannot read it (`\\p{L}`
    and other Unicode classes); then only the length bounds are checked."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def string_fits(shape, value) -> bool:
    """Whether `value` is a string the shape accepts: enum member, length bounds, pattern."""
    if not isinstance(value, str):
        return False
    if shape.enum:
        return value in shape.enum
    md = shape.metadata
    if len(value) < md.get("min", 0) or ("max" in md and len(value) > md["max"]):
        return False
    rx = compiled(md.get("pattern"))
    return rx is None or rx.fullmatch(value) is not None


def number_fits(shape, value) -> bool:
    """Whether `value` is a number within the shape's range (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if shape.type_name in ("integer", "long") and not isinstance(value, int):
        return False
    md = shape.metadata
    return md.get("min", value) <= value <= md.get("max", value)


class RequestBuilder:
    """Builds minimal requests for one test run, around one base name.

    `unsatisfied` collects (shape, member, pattern, min, max) of strings for which no candidate
    fits; a test fails on it so the candidate list gets fixed rather than the server being sent a
    value the model forbids."""

    def __init__(self, base=None, now=None):
        self.base = base or new_base_name()
        self.now = now or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        self.unsatisfied = {}

    # -- requests ------------------------------------------------------------------------------

    def minimal_request(self, op_name, values=None):
        """The required members of `op_name`'s input, recursively, each valid for its shape;
        members named in `values` reuse the remembered value where it fits."""
        shape = service_model().operation_model(op_name).input_shape
        if shape is None:
            return {}
        return self.structure(shape, values or {}, 0)

    def structure(self, shape, values, depth):
        """Only the required members; a tagged union (exactly one member must be set) gets its
        first member; a document type gets an empty object."""
        if shape.is_document_type or depth > MAX_DEPTH:
            return {}
        if shape.is_tagged_union:
            name, member = next(iter(shape.members.items()))
            return {name: self.value(name, member, values, depth + 1)}
        return {name: self.value(name, shape.members[name], values, depth + 1)
                for name in shape.required_members}

    def value(self, name, shape, values, depth):
        """A value for member `name` of `shape`: the remembered one if it fits, else built."""
        remembered = values.get(name)
        if remembered is not None and self.fits(shape, remembered):
            return remembered
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, values, depth)
        if kind == "list":
            count = shape.metadata.get("min", 0)
            return [self.value(name, shape.member, values, depth + 1) for _ in range(count)]
        if kind == "map":
            count = shape.metadata.get("min", 0)
            keys = self.map_keys(shape.key, count)
            return {k: self.value(name, shape.value, values, depth + 1) for k in keys}
        if kind == "string":
            return self.string(name, shape)
        if kind in ("integer", "long"):
            return self.number(shape, int)
        if kind in ("float", "double"):
            return self.number(shape, float)
        if kind == "boolean":
            return False
        if kind == "timestamp":
            return self.now
        if kind == "blob":
            return b"x"
        raise AssertionError(f"shape {shape.name} of unknown type {kind}")

    @staticmethod
    def fits(shape, value) -> bool:
        """Whether a remembered value may stand for a member of `shape` (scalars only: a
        remembered structure or list is never reused)."""
        kind = shape.type_name
        if kind == "string":
            return string_fits(shape, value)
        if kind in ("integer", "long", "float", "double"):
            return number_fits(shape, value)
        if kind == "boolean":
            return isinstance(value, bool)
        return False

    @staticmethod
    def number(shape, cast):
        """max(min, 1), clipped to the shape's max."""
        md = shape.metadata
        n = max(md.get("min", 1), 1)
        if "max" in md:
            n = min(n, md["max"])
        return cast(n)

    def map_keys(self, key_shape, count):
        """`count` distinct keys valid for the map's key shape."""
        if key_shape.enum:
            return list(key_shape.enum[:count])
        first = self.string("Key", key_shape)
        keys = [first]
        for i in range(1, count):
            keys.append(self.string("Key", key_shape, avoid=set(keys), suffix=str(i)))
        return keys[:count]

    # -- strings -------------------------------------------------------------------------------

    def string(self, name, shape, avoid=(), suffix=""):
        """An enum value, or the first candidate fitting the shape's length and pattern."""
        if shape.enum:
            return next((v for v in PREFERRED_ENUM if v in shape.enum), shape.enum[0])
        md = shape.metadata
        for candidate in self.candidates(name, shape):
            candidate += suffix
            for value in (candidate, self.padded(candidate, md.get("min", 0))):
                if value not in avoid and string_fits(shape, value):
                    return value
        self.unsatisfied[shape.name] = (name, md.get("pattern"), md.get("min"), md.get("max"))
        return self.padded("a", md.get("min", 1))

    @staticmethod
    def padded(value, minimum):
        """`value` lengthened with `a`s to `minimum` characters (IdempotencyToken needs 32)."""
        return value + "a" * max(0, minimum - len(value))

    def candidates(self, name, shape):
        """Values to try in order: what the member's name suggests first (the run's base name for
        names, the role for role ARNs, an ARN of the named kind), then generic shapes of values
        the model's patterns ask for."""
        base = self.base
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
        first = []
        if name.endswith("RoleArn") or "Role" in shape.name:
            first.append(ROLE_ARN)
        if name.endswith(("Name", "NameOrArn")) or shape.name.endswith(("Name", "NameOrArn")):
            first += [base, base.replace("-", ""), base.replace("-", "_")]
        kind = self.arn_kind(name, shape)
        if kind:
            first += [f"{arn}:{kind}/{base}", f"{arn}:{kind}/{'abcdef123456'}"]
        return first + [
            base,
            "a",
            f"{arn}:cluster/abcdef123456",
            f"{arn}:experiment/{base}",
            f"{arn}:partner-app/app-ABCDEF123456",
            f"{arn}:hub-content/{base}/Model/{base}/1.0.0",
            f"arn:aws:sagemaker:{REGION}:aws:hub-content/{base}/Model/{base}",
            f"{arn}:model-card/{base}/export-job/{base}",
            f"{arn}:pipeline/{base}/execution/abcdef123456",
            f"{arn}:extension/sagemaker-{base}/{base}/abcdef123456",
            f"{arn}:endpoint/{base}",
            ROLE_ARN,
            "s3://bucket/key",
            "https://example.com/x",
            "ml.m5.large",
            "1",
            "1.0",
            "1.0.0",
            REGION,
            "d-abcdef123456",
            "abcdef123456",
            "12345678-1234-1234-1234-123456789012",
            "eni-0123456789abcdef0",
            "i-0123456789abcdef0",
            "vol-0123456789abcdef0",
            "0123456789",
            "{}",
        ]

    @staticmethod
    def arn_kind(name, shape):
        """The resource kind an ARN member names (`TrainingJobArn` -> `training-job`), or None.
        Generic names (`ResourceArn`, `Arn`) fall back to the shape's name (`WorkteamArn`)."""
        for word in (name, shape.name):
            if word.endswith("Arn") and word not in ("Arn", "ResourceArn", "SourceArn",
                                                     "DestinationArn"):
                return kebab(word[:-3])
        return None


def validate_with_botocore(op_name, request):
    """botocore's own client-side checks (what a client with parameter_validation does): returns
    the report's text, or "" when the request passes."""
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(op_name).input_shape
    if shape is None:
        return ""
    report = ParamValidator().validate(request, shape)
    return report.generate_report() if report.has_errors() else ""


# Output shapes whose model pattern no real answer satisfies: DeviceFleetArn's pattern spells an
# `arn:aws:iam::` ARN, while SageMaker names device fleets with `arn:aws:sagemaker:` ones; the
# two edge ARNs allow no digit in the region (`sagemaker:[a-z\-]*:`), so no `us-east-1`.
OUTPUT_PATTERN_QUIRKS = {"DeviceFleetArn", "EdgeDeploymentPlanArn", "EdgePackagingJobArn"}


def output_violations(op_model, body, strict=True):
    """What of a raw JSON answer the output shape does not allow: top-level members the shape
    lacks (invented members) and timestamps that are not JSON numbers; with `strict`, also
    required members left out and strings outside their shape's enum, length or pattern (an ARN
    made up in a form the model's pattern rejects cannot be sent back by a validating client, an
    empty name in a summary names nothing)."""
    shape = op_model.output_shape
    if not isinstance(body, dict):
        return [f"body is {type(body).__name__}, not an object"]
    if shape is None:
        return [f"member {k!r} in an answer the model gives no output" for k in body]
    problems = [f"member {k!r} is not in {shape.name}" for k in body if k not in shape.members]
    _walk_output(shape, body, shape.name, problems, strict)
    return problems


def _walk_output(shape, value, path, problems, strict):
    """Walks `value` along `shape`, noting what the shape does not allow (see above)."""
    kind = shape.type_name
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"timestamp {path} is {value!r}, not a JSON number")
    elif kind == "string" and isinstance(value, str):
        if strict and shape.name not in OUTPUT_PATTERN_QUIRKS and not string_fits(shape, value):
            what = f"enum {shape.enum[:5]}..." if shape.enum else (
                f"min {shape.metadata.get('min')} max {shape.metadata.get('max')} "
                f"pattern {shape.metadata.get('pattern')}")
            problems.append(f"{path} = {value[:120]!r} does not fit {shape.name} ({what})")
    elif kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        if strict:
            problems += [f"required {path}.{k} is missing" for k in shape.required_members
                         if value.get(k) is None]
        for k, v in value.items():
            if k in shape.members:
                _walk_output(shape.members[k], v, f"{path}.{k}", problems, strict)
    elif kind == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _walk_output(shape.member, v, f"{path}[{i}]", problems, strict)
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _walk_output(shape.value, v, f"{path}.{k}", problems, strict)
