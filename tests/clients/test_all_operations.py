"""Every operation of the pinned SageMaker model answers, through boto3, with a request built
from the model (model_requests.py): no NotImplementedException, no 5xx, every answer parsed by
botocore, and no 200 whose raw JSON holds a member the output shape lacks or a timestamp that is
not a number.

- `test_builder_requests_pass_botocore_validation`: the builder alone (no server): each of the
  model's operations gets a request botocore's client-side checks accept, and every string shape
  on the way got a value that fits its pattern.
- `test_every_operation_answers`: calls all operations once (creating ones first, removing ones
  last) and prints the tally.
- `test_stored_families_lifecycle`: for each family the server keeps as a stored resource
  (`sagebox ops --json`), create -> describe -> list -> update -> delete -> describe, parents
  created before children, children deleted before parents.

One private server serves the module: the calls leave junk behind, and some of them (the Create
of a training job, a notebook instance, an endpoint) start Docker work, which the plugin removes
at teardown; the tests never wait for it.
"""

import datetime as dt
import json
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import botocore.exceptions
import pytest
from botocore import xform_name

from model_requests import (RequestBuilder, operation_names, output_violations, service_model,
                            validate_with_botocore)
from support import sagebox_binary

# Families whose Create starts containers (or needs a running endpoint): never made as the parent
# a stored family needs; a family whose parent is one of these is skipped, noted.
CONTAINER_FAMILIES = {"TrainingJob", "ProcessingJob", "TransformJob", "HyperParameterTuningJob",
                      "NotebookInstance", "Endpoint", "InferenceComponent"}

# What a Create needs beyond the model: one-of rules ("Either PrimaryContainer or Containers must
# be specified") that the model cannot state. Sent only in the lifecycle, where the resource must
# come into being; the every-operation test sends the model's minimum alone. None stands for the
# run's base name (the model package goes into the group of that name, made before it).
IMAGE = "000000000000.dkr.ecr.us-east-1.amazonaws.com/sagebox-test:1"
CREATE_EXTRAS = {
    "Model": {"PrimaryContainer": {"Image": IMAGE}},
    "ModelPackage": {"ModelPackageGroupName": None, "InferenceSpecification": {
        "Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]}},
    "Pipeline": {"PipelineDefinition": json.dumps({"Version": "2020-12-01", "Steps": []})},
}

# The raw-body check beyond what the issue asks (no invented members, numeric timestamps): also
# required output members present and every string within its shape's enum/length/pattern.
STRICT_OUTPUT_SHAPES = True

NOT_IMPLEMENTED = {"NotImplementedException", "UnknownOperationException"}
NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException"}
IN_USE = {"ResourceInUse", "ResourceInUseException"}
# A server answer naming a model constraint: the builder sent what the model forbids.
BUILDER_BUG = re.compile(r"must satisfy regular expression pattern|Member must not be null|"
                         r"failed to satisfy constraint", re.I)
# A Create refused because something it refers to is missing (retried once others exist).
MISSING = re.compile(r"does not exist|not found|could not find|cannot find|no such", re.I)


# -- calling ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One call's result: the HTTP status (None: no answer reached the caller as an HTTP
    response, e.g. a parse error), the error code ("" on success), the message, the parsed
    answer, and what the raw body violated of the output shape."""
    op: str
    status: object
    code: str = ""
    message: str = ""
    parsed: dict = field(default_factory=dict)
    violations: list = field(default_factory=list)
    reported: bool = False  # its failures are already in a table
    seconds: float = 0.0

    @property
    def ok(self):
        return self.status == 200


class RawBodies:
    """A botocore `after-call` handler: checks each 200's raw JSON body against the output shape
    (what `parsed` hides: botocore drops unknown members and reads timestamps of any form)."""

    def __init__(self):
        self.violations = []

    def __call__(self, http_response, model, **_):
        if http_response.status_code != 200:
            return
        raw = http_response.content or b"{}"
        try:
            body = json.loads(raw)
        except ValueError as e:
            self.violations.append(f"body is not JSON ({e}): {raw[:200]!r}")
            return
        self.violations.extend(output_violations(model, body, STRICT_OUTPUT_SHAPES))

    def take(self):
        out, self.violations = self.violations, []
        return out


def call(client, raw, op, request):
    """Calls `op` with `request` and returns its Outcome (timed); never raises for an answer."""
    start = time.monotonic()
    outcome = _call(client, raw, op, request)
    outcome.seconds = time.monotonic() - start
    return outcome


def _call(client, raw, op, request):
    method = getattr(client, xform_name(op))
    raw.take()
    try:
        parsed = method(**request)
        status = parsed.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return Outcome(op, status, parsed=parsed, violations=raw.take())
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return Outcome(op, status, err.get("Code", ""), err.get("Message", ""),
                       violations=raw.take())
    except botocore.exceptions.ParamValidationError as e:
        return Outcome(op, None, "ParamValidationError", f"builder bug, botocore rejects it: {e}")
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        # ResponseParserError, a timeout, a dropped connection: no usable answer.
        return Outcome(op, None, type(e).__name__, str(e), violations=raw.take())


def failures_of(outcome):
    """What is wrong with one outcome, whatever the operation: (status, code, message) rows."""
    rows = []
    if outcome.code in NOT_IMPLEMENTED:
        rows.append((outcome.status, outcome.code, outcome.message))
    elif outcome.status is None:
        said = "" if outcome.code == "ParamValidationError" else "no parsed answer: "
        rows.append(("-", outcome.code, f"{said}{outcome.message}"))
    elif outcome.status >= 500:
        rows.append((outcome.status, outcome.code, outcome.message))
    elif outcome.code == "ValidationException" and BUILDER_BUG.search(outcome.message):
        blame = constraint_blame(outcome)
        rows.append((outcome.status, outcome.code, f"{blame}: {outcome.message}"))
    rows += [(outcome.status, "raw body", v) for v in outcome.violations]
    return rows


def constraint_blame(outcome):
    """Who is wrong when the server names a model constraint: the builder, unless the server
    demands a member the model leaves optional (then the server is stricter than the model)."""
    null = re.search(r"Value null at '([^']+)'", outcome.message)
    if null:
        member = null.group(1).split(".")[-1].lower()
        shape = service_model().operation_model(outcome.op).input_shape
        if shape is not None and member not in {m.lower() for m in shape.required_members} \
                and member in {m.lower() for m in shape.members}:
            return "server requires a member the model leaves optional"
    return "builder bug"


def remember(values, answer, generic=False):
    """Keeps the identifiers an answer gave (top-level `*Id`, `*Arn`, `*Name` strings) for the
    requests that follow. Bare `Arn`/`Id`/`Name` name different things in different answers, so
    they are kept only where `generic` (a family's own values)."""
    for key, v in answer.items():
        if not isinstance(v, str) or key == "ResponseMetadata":
            continue
        if key.endswith(("Id", "Arn", "Name")) and (generic or key not in ("Arn", "Id", "Name")):
            values[key] = v


def known_by_arn(values, answer):
    """A resource created without a name of its own (a model package version in its group) is
    named by its ARN: `ModelPackageArn` stands for `ModelPackageName` where no name was sent."""
    for key, v in answer.items():
        if key.endswith("Arn") and isinstance(v, str):
            values.setdefault(key[:-3] + "Name", v)


def table(rows, head=("operation", "status", "code", "message")):
    """rows as a fixed-width text table (messages cut at 200 characters)."""
    rows = [tuple(str(c) for c in r[:-1]) + (str(r[-1])[:200].replace("\n", " "),) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """This module's own server: what the calls create stays out of the session's."""
    from sagebox.pytest_plugin import Servers

    servers = Servers(request.config, tmp_path_factory)
    yield servers.start("all-operations")
    servers.end()


@pytest.fixture(scope="module")
def sm_checked(server, client_factory):
    """(client, raw-body checker): botocore validates parameters, one attempt, 60 s reads."""
    client = client_factory("sagemaker", server.url, read_timeout=60)
    raw = RawBodies()
    client.meta.events.register("after-call.sagemaker.*", raw)
    return client, raw


# -- the builder on its own ---------------------------------------------------------------------

def test_builder_requests_pass_botocore_validation():
    """Every operation's minimal request passes botocore's parameter validation, and no string
    shape was left without a value that fits its pattern and length."""
    builder = RequestBuilder()
    bad = [(op, "-", "ParamValidation", report) for op in operation_names()
           if (report := validate_with_botocore(op, builder.minimal_request(op)))]
    unsatisfied = [(shape, member, f"pattern {pattern!r} min {lo} max {hi}")
                   for shape, (member, pattern, lo, hi) in sorted(builder.unsatisfied.items())]
    assert not unsatisfied, "no candidate fits these shapes:\n" + table(
        unsatisfied, ("shape", "member", "constraint"))
    assert not bad, "botocore rejects these requests:\n" + table(bad)


# -- every operation ----------------------------------------------------------------------------

def test_every_operation_answers(sm_checked, capsys):
    """Calls each operation once with its minimal request (identifiers of earlier answers
    reused); collects every failure and reports them together with the tally."""
    client, raw = sm_checked
    builder, values = RequestBuilder(), {}
    outcomes, failures = [], []
    for op in call_order(operation_names()):
        outcome = call(client, raw, op, builder.minimal_request(op, values))
        outcomes.append(outcome)
        if outcome.ok:
            remember(values, outcome.parsed)
        failures += [(op, *row) for row in failures_of(outcome)]

    summary = tally(outcomes)
    with capsys.disabled():
        print("\n" + summary)
    assert not builder.unsatisfied, f"no candidate fits: {builder.unsatisfied}"
    assert not failures, f"{summary}\n{len(failures)} failures:\n" + table(failures)


MAKERS = ("Create", "Add", "Put", "Register", "Import", "Associate", "Attach")
REMOVERS = ("Stop", "Delete", "Deregister", "Disassociate", "Detach")


def call_order(ops):
    """Name order within three phases: what makes resources, the rest, what stops or removes
    them. Describes and Lists then find what the Creates made, so their 200 answers (and the
    raw-body checks on them) cover far more of the output shapes than plain name order, where
    every Delete runs before its Describe."""
    def phase(op):
        return 0 if op.startswith(MAKERS) else 2 if op.startswith(REMOVERS) else 1

    return sorted(ops, key=lambda op: (phase(op), op))


def tally(outcomes):
    """`all-operations: 434 operations called, 201 answered 200, 233 answered 4xx (...)`."""
    ok = sum(o.ok for o in outcomes)
    four = Counter(o.code for o in outcomes if o.status and 400 <= o.status < 500)
    five = Counter(o.code for o in outcomes if o.status and o.status >= 500)
    none = Counter(o.code for o in outcomes if o.status is None)
    text = (f"all-operations: {len(outcomes)} operations called, {ok} answered 200, "
            f"{sum(four.values())} answered 4xx ({breakdown(four)})")
    if five:
        text += f", {sum(five.values())} answered 5xx ({breakdown(five)})"
    if none:
        text += f", {sum(none.values())} gave no parsed answer ({breakdown(none)})"
    slow = sorted((o for o in outcomes if o.seconds >= 1.0), key=lambda o: -o.seconds)[:5]
    if slow:
        text += "; slowest: " + ", ".join(f"{o.op} {o.seconds:.1f}s" for o in slow)
    return text


def breakdown(counter):
    return ", ".join(f"{code} {n}" for code, n in counter.most_common())


# -- stored families ----------------------------------------------------------------------------

def stored_families():
    """(families, note): the families `sagebox ops --json` reports stored whose Create is
    stored too. The command is part of what is tested: its failure fails the test."""
    proc = subprocess.run([str(sagebox_binary()), "ops", "--json"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
    entries = json.loads(proc.stdout)
    modes = Counter(e["mode"] for e in entries)
    assert len(entries) == len(operation_set()), "sagebox ops lists every operation of the model"
    assert set(modes) <= {"real", "stored", "refused"}, modes
    mode = {e["operation"]: e["mode"] for e in entries}
    families = {e["family"] for e in entries if e["mode"] == "stored" and e["family"]}
    note = "sagebox ops: " + ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
    return sorted(f for f in families if mode.get(f"Create{f}") == "stored"), note


def list_operation(family):
    """The family's List operation (`ListDomains`, `ListCodeRepositories`, `ListAutoMLJobs` for
    AutoMLJobV2), or None."""
    ops = operation_set()
    stem = re.sub(r"V\d+$", "", family)
    plurals = [stem + "s", stem + "es"] + ([stem[:-1] + "ies"] if stem.endswith("y") else [])
    return next((f"List{p}" for p in plurals if f"List{p}" in ops), None)


@lru_cache(maxsize=1)
def operation_set():
    return frozenset(operation_names())


def has(op):
    return op in operation_set()


@dataclass
class Family:
    """One family's lifecycle state: its create request and answer, the identifiers the later
    requests reuse, and what went wrong."""
    name: str
    request: dict = field(default_factory=dict)
    answer: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    helper: bool = False  # made for a child's sake; its own lifecycle is not checked
    skipped: bool = False

    def fail(self, outcome_or_op, status="-", code="", message=""):
        if isinstance(outcome_or_op, Outcome):
            o = outcome_or_op
            if o.reported:
                return
            self.failures.append((self.label, o.op, o.status, o.code, o.message))
        else:
            self.failures.append((self.label, outcome_or_op, status, code, message))

    @property
    def label(self):
        return f"{self.name} (parent)" if self.helper else self.name


class Lifecycle:
    """Drives the lifecycle of a set of families against one client."""

    def __init__(self, client, raw):
        self.client, self.raw = client, raw
        self.builder = RequestBuilder()
        self.values = {}  # identifiers every family may refer to (a parent's DomainId)
        self.helpers = []  # parents made only so that a stored family can be (a Model)
        self.notes = []

    def request(self, op, family):
        """The minimal request, plus the family's own identifiers wherever the input has a member
        of that name, required or not (DeleteArtifact names its artifact by an optional
        ArtifactArn)."""
        values = {**self.values, **family.values}
        request = self.builder.minimal_request(op, values)
        shape = service_model().operation_model(op).input_shape
        for key, value in family.values.items():
            if shape is not None and key in shape.members and key not in request \
                    and self.builder.fits(shape.members[key], value):
                request[key] = value
        return request

    def call(self, op, family, extra=None):
        """Calls `op` for `family`; its generic failures (5xx, builder bugs, raw body) are
        recorded on the family."""
        request = {**self.request(op, family),
                   **{k: self.builder.base if v is None else v for k, v in (extra or {}).items()}}
        outcome = call(self.client, self.raw, op, request)
        for row in failures_of(outcome):
            family.fail(op, *row)
            outcome.reported = True
        return outcome, request

    # -- steps ---------------------------------------------------------------------------------

    def create_all(self, families):
        """Fixpoint: try every pending Create; one refused because something it names is missing
        waits for the next round. When a round makes no progress, the parents the refusals name
        ("Could not find model ...") are made as helpers where they are not stored families and
        start no containers (a Model), and the round repeats; what still waits then fails, or is
        noted as skipped where its parent would start containers (an Endpoint). Returns the
        families and helpers created, in creation order."""
        pending, created, helpers = list(families), [], set()
        while pending:
            waiting = []
            for family in pending:
                outcome = self.create(family)
                if outcome.ok:
                    created.append(family)
                elif outcome.code in NOT_FOUND or (outcome.code == "ValidationException"
                                                   and MISSING.search(outcome.message)):
                    waiting.append((family, outcome))
                elif outcome.code in IN_USE and self.rename(family):
                    waiting.append((family, None))  # a fresh name is progress: retried
                else:
                    family.fail(outcome)
            stalled = len(waiting) == len(pending) and all(o is not None for _, o in waiting)
            if stalled:
                known = {f.name for f, _ in waiting} | {f.name for f in created} | helpers
                extra = self.parents_to_make(waiting, known)
                if not extra:
                    for family, outcome in waiting:
                        self.give_up(family, outcome)
                    break
                helpers |= {f.name for f in extra}
                waiting = [(f, None) for f in extra] + waiting  # parents first
            pending = [f for f, _ in waiting]
        return created

    def create(self, family):
        """Calls Create<family> and, on 200, keeps its request, answer and identifiers."""
        extras = CREATE_EXTRAS.get(family.name)
        outcome, request = self.call(f"Create{family.name}", family, extras)
        if outcome.ok:
            family.request, family.answer = request, outcome.parsed
            remember(family.values, outcome.parsed, generic=True)
            remember(family.values, request, generic=True)
            remember(self.values, outcome.parsed)
            known_by_arn(family.values, outcome.parsed)
        return outcome

    def parents_to_make(self, waiting, known):
        """Helper families for the parents the refusals name, where this test can make them."""
        extra = []
        for _, outcome in waiting:
            parent = missing_parent(outcome.message)
            if parent and parent not in known and parent not in CONTAINER_FAMILIES:
                known.add(parent)
                extra.append(Family(parent, helper=True))
                self.helpers.append(extra[-1])
        return extra

    def give_up(self, family, outcome):
        parent = missing_parent(outcome.message)
        if parent in CONTAINER_FAMILIES:
            self.notes.append(f"skipped {family.name}: its parent {parent} would start "
                              f"containers ({outcome.message})")
            family.skipped = True
        else:
            family.fail(outcome.op, outcome.status, outcome.code,
                        f"still missing a parent: {outcome.message}")

    def rename(self, family):
        """Gives a family whose name another family holds (AutoMLJobV2 and AutoMLJob share one
        namespace) a name of its own, once. Returns whether it did."""
        shape = service_model().operation_model(f"Create{family.name}").input_shape
        stem = re.sub(r"V\d+$", "", family.name)
        own = next((m for m in (f"{family.name}Name", f"{stem}Name", "Name")
                    if m in shape.members), None)
        fresh = f"{self.builder.base}-2"
        if own is None or own in family.values and family.values[own] == fresh \
                or not self.builder.fits(shape.members[own], fresh):
            return False
        family.values[own] = fresh
        return True

    def describe(self, family):
        """Describe answers 200; the Create request's top-level members the Describe output
        has come back equal, and so do the ARNs the Create answered."""
        op = f"Describe{family.name}"
        if not has(op):
            return
        outcome, _ = self.call(op, family)
        if not outcome.ok:
            family.fail(outcome)
            return
        out_members = service_model().operation_model(op).output_shape.members
        in_members = service_model().operation_model(f"Create{family.name}").input_shape.members
        got = outcome.parsed
        for key, sent in family.request.items():
            # Same name, same shape: a UiTemplate sent as {Content} is described as {Url, Sha}.
            if key in out_members and out_members[key].name == in_members[key].name \
                    and not matches(sent, got.get(key)):
                family.fail(op, 200, "mismatch",
                            f"{key}: sent {sent!r}, described {got.get(key)!r}")
        for key, arn in family.answer.items():
            if key.endswith("Arn") and key in out_members and got.get(key) != arn:
                family.fail(op, 200, "mismatch",
                            f"{key}: created {arn!r}, described {got.get(key)!r}")

    def listed(self, family):
        """The List operation answers 200 (every page) and one entry names the created
        resource (by one of its ARNs or its name). List members the Create request also sent
        (`ModelPackageGroupName`) are sent along, as a caller would filter."""
        op = list_operation(family.name)
        if op is None:
            return
        arns = {v for k, v in family.answer.items() if k.endswith("Arn") and isinstance(v, str)}
        names = {k: v for k, v in family.request.items() if k.endswith("Name")}
        # Scoped like the create was: the versions of the group the package went into.
        members = service_model().operation_model(op).input_shape.members
        scope = {k: v for k, v in family.request.items()
                 if k in members and isinstance(v, (str, int, float))}
        token, pages = None, 0
        while pages < 50:
            page = {"NextToken": token} if token else {}
            outcome, _ = self.call(op, family, {**scope, **page})
            if not outcome.ok:
                family.fail(outcome)
                return
            if any(names_it(entry, arns, names) for entry in entries(outcome.parsed)):
                return
            token, pages = outcome.parsed.get("NextToken"), pages + 1
            if not token:
                break
        family.fail(op, 200, "missing", f"no entry has ARN {sorted(arns)} or names {names}")

    def update(self, family):
        op = f"Update{family.name}"
        if has(op):
            outcome, _ = self.call(op, family)
            if not outcome.ok:
                family.fail(outcome)

    def delete_all(self, created):
        """Deletes children first (reverse creation order); a delete refused with
        ResourceInUse waits for the next round. Then each Describe must say it is gone."""
        pending = [f for f in reversed(created) if has(f"Delete{f.name}")]
        deleted = []
        while pending:
            waiting = []
            for family in pending:
                outcome, _ = self.call(f"Delete{family.name}", family)
                if outcome.ok:
                    deleted.append(family)
                elif outcome.code in IN_USE:
                    waiting.append((family, outcome))
                else:
                    family.fail(outcome)
            if len(waiting) == len(pending):
                for family, outcome in waiting:
                    family.fail(outcome)
                break
            pending = [f for f, _ in waiting]
        for family in deleted:
            self.gone(family)

    def gone(self, family):
        op = f"Describe{family.name}"
        if not has(op):
            return
        outcome, _ = self.call(op, family)
        if not (outcome.status and 400 <= outcome.status < 500
                and (outcome.code in NOT_FOUND or outcome.code == "ValidationException")):
            family.fail(op, outcome.status, outcome.code or "still there",
                        f"after delete: {outcome.message or 'answered 200'}")


def missing_parent(message):
    """The family a refusal says is missing: 'Could not find endpoint configuration "x"' ->
    EndpointConfig, 'Could not find model "x"' -> Model; None where the message names none."""
    found = re.search(r"(?:could not|can't|cannot) find (?:an? )?([a-z][a-z ]*?) [\"']",
                      message, re.I)
    if not found:
        return None
    words = found.group(1).replace("configuration", "config").split()
    name = "".join(w.capitalize() for w in words)
    return name if has(f"Create{name}") else None


def matches(sent, got):
    """Whether a described value holds what was sent: equal scalars (timestamps as epoch
    seconds), a structure's sent members (the server may fill defaults), lists element-wise."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(matches(v, got.get(k)) for k, v in sent.items())
    if isinstance(sent, list):
        return (isinstance(got, list) and len(got) == len(sent)
                and all(matches(a, b) for a, b in zip(sent, got)))
    if isinstance(sent, dt.datetime):
        return isinstance(got, dt.datetime) and abs(got.timestamp() - sent.timestamp()) < 1e-3
    return sent == got


def entries(answer):
    """The summaries of a List answer: the elements of its list-typed top-level members."""
    for key, value in answer.items():
        if isinstance(value, list):
            yield from value


def names_it(entry, arns, names):
    """Whether a List entry is the created resource: one of its values is an ARN the Create
    answered, or it has a name member the Create request sent, with the value sent (`AppName`;
    an entry's `EndpointName` only counts if the Create sent an `EndpointName` itself)."""
    if isinstance(entry, str):
        return entry in arns
    if not isinstance(entry, dict):
        return False
    return any(v in arns for v in entry.values() if isinstance(v, str)) or any(
        entry.get(k) == v for k, v in names.items())


def test_stored_families_lifecycle(sm_checked, capsys):
    """create -> describe -> list -> update -> delete -> describe for every stored family."""
    client, raw = sm_checked
    names, note = stored_families()
    families = [Family(n) for n in names]
    life = Lifecycle(client, raw)
    created = life.create_all(families)
    for family in created:
        if not family.helper:
            life.describe(family)
            life.listed(family)
            life.update(family)
    life.delete_all(created)

    passed = [f.name for f in families if not f.failures and not f.skipped]
    summary = (f"stored-families: {len(families)} families, "
               f"{sum(not f.helper for f in created)} created, "
               f"{len(passed)} passed the whole lifecycle ({', '.join(passed) or 'none'})")
    notes = [note] if note else []
    notes += [f"parents made for their children: {', '.join(f.name for f in life.helpers)}"
              ] if life.helpers else []
    with capsys.disabled():
        print("\n" + "\n".join(notes + life.notes + [summary]))
    assert not life.builder.unsatisfied, f"no candidate fits: {life.builder.unsatisfied}"
    rows = [row for f in families + life.helpers for row in f.failures]
    assert not rows, f"{summary}\n" + table(rows, ("family", "operation", "status", "code",
                                                   "message"))
