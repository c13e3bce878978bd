"""Derive SageMaker's resource families from the botocore model, for sagebox's stored-resource engine.

A family is a noun with a Create<Noun> and a Describe<Noun> operation (Domain, Experiment,
FeatureGroup, ...). From the model alone this works out, for each family:

- its operations (Create, Describe, List, Update, Delete, Start, Stop);
- the members that identify one resource (the Describe input's identifying members), and which of
  them sagebox generates because the Create input does not carry them (DomainId, an Artifact's ARN);
- the member that carries its ARN, its ARN resource type, and its status member with the statuses
  it settles through (one table, `settle`, below);
- what Describe and List answer: every output member with where its value comes from (the stored
  request, the ARN, the times, the status, a generated id), and a default for each member the
  output shape requires that sagebox cannot derive;
- its parents: a family whose identifier the Create input requires (a Trial names its Experiment,
  a UserProfile its Domain), which must exist at create and keeps the parent from being deleted.

Every other operation gets a generic rule (see `operation_rules`). The result is JSON, which
src/service/stored/ reads at startup; tools/gen_models.py writes it with the other tables and
`--check` keeps it current. Overrides below are the places where the model's names alone do not
say what SageMaker does; each says why.
"""

import re

# Families whose operations sagebox implements by hand (src/api/sagemaker): the engine leaves them
# alone, but their identifiers still name parents (an InferenceComponent names an Endpoint).
HAND_WRITTEN = {
    "Model", "EndpointConfig", "Endpoint", "TrainingJob", "TransformJob", "ProcessingJob",
    "HyperParameterTuningJob", "NotebookInstance", "NotebookInstanceLifecycleConfig", "Pipeline",
    "ModelPackage", "ModelPackageGroup",
}

# ARN resource types that are not the family's name in kebab case (SageMaker's own ARN formats).
ARN_TYPES = {
    "AutoMLJob": "automl-job",
    "AutoMLJobV2": "automl-job",
    "Trial": "experiment-trial",
    "TrialComponent": "experiment-trial-component",
    "DataQualityJobDefinition": "data-quality-job-definition",
    "ModelBiasJobDefinition": "model-bias-job-definition",
    "ModelExplainabilityJobDefinition": "model-explainability-job-definition",
    "ModelQualityJobDefinition": "model-quality-job-definition",
    "MlflowTrackingServer": "mlflow-tracking-server",
    "InferenceRecommendationsJob": "inference-recommendations-job",
    "StudioLifecycleConfig": "studio-lifecycle-config",
    "ClusterExtension": "cluster-extension",
}

# Families that are another family's resources under a second Create operation.
SAME_AS = {"AutoMLJobV2": "AutoMLJob"}

# Families whose Describe answers one structure member holding the resource (Workforce, Workteam).
NESTED = {"Workforce": "Workforce", "Workteam": "Workteam", "ClusterExtension": "ExtensionDetails",
          "TrainingSession": "TrainingSessionDetail"}

# ARNs whose resource part is not "<type>/<identifying members>" (the model's ARN patterns say so):
# `{Member}` is a member's value (lower case), `{id:N}` N random lowercase letters and digits,
# `{ID:N}` N random capitals and digits.
ARN_FORMATS = {
    "Cluster": "cluster/{id:12}",
    "ClusterExtension": "extension/sagemaker-{ExtensionName}/{id:12}/{id:12}",
    "PartnerApp": "partner-app/app-{ID:12}",
    "ModelCardExportJob": "model-card/{ModelCardName}/export-job/{ModelCardExportJobName}",
    "Job": "job/{JobCategory}/{JobName}",
    "GlobalInferenceGateway": "global-inference-gateway/{Id}",
}

# Identifying members too generic to name a parent: a Job's JobName is its own, not an
# InferenceRecommendationsJob's.
NOT_PARENT_KEYS = {"JobName"}

# Families whose Delete removes their children (DeleteImage: "Deletes a SageMaker AI image and
# all versions of the image") instead of refusing while children exist.
CASCADE = {"Image"}

# Families with numbered versions under one name: the member that numbers them. Create adds the
# next version; Describe and Delete without it mean the latest.
VERSIONED = {"ImageVersion": "Version"}

# Generated identifiers: a prefix and the number of random lowercase letters and digits after it,
# or {"copy": member} for an identifier that is another member's value (a GlobalInferenceGateway
# is described by its name).
ID_FORMATS = {"DomainId": ("d-", 12), "ProjectId": ("p-", 12), "Identifier": {"copy": "Name"}}
DEFAULT_ID = ("", 12)

# Sample values for members an output requires and sagebox has no value for: the first that
# fits the shape's pattern and length. `{type}` is the resource type an ARN pattern names.
SAMPLES = [
    "sagebox", "sagebox-1", "1", "1.0.0", "a",
    "arn:aws:sagemaker:us-east-1:000000000000:{type}/sagebox",
    "arn:aws:sagemaker:us-east-1:000000000000:{type}/abcdef123456",
    "arn:aws:sagemaker:us-east-1:000000000000:{type}/sagemaker-sagebox/sagebox/abcdef123456",
    "arn:aws:iam::000000000000:role/sagebox", "s3://sagebox/output", "https://localhost/sagebox",
    "/dev/xvdf", "abcdef123456", "ABCDEF123456", "us-east-1", "000000000000",
]

# Statuses a family passes through, by the values its status enum offers. Each entry names, in
# order of preference, the status a new resource shows, the one it settles into, and the
# transitional and final statuses of update, stop, start and delete. A family's status enum picks
# the first value of each list it has; the generated JSON holds the result per family.
SETTLE = {
    "creating": ["Creating", "Pending", "InProgress", "Starting", "CreateInProgress", "Initializing",
                 "Submitted"],
    "settled": ["InService", "Active", "Created", "Scheduled", "Ready", "Available", "Completed",
                "CreateCompleted", "Approved", "Enabled", "Running"],
    "updating": ["Updating", "UpdateInProgress"],
    "updated": ["UpdateCompleted"],
    "stopping": ["Stopping"],
    "stopped": ["Stopped"],
    "starting": ["Starting", "Pending"],
    "deleting": ["Deleting", "DeleteInProgress"],
}

CREATED = re.compile(r"^(CreationTime|CreatedAt|CreateDate|CreationDate)$")
MODIFIED = re.compile(r"^(LastModified(Time|At|Date)|LastUpdated(Time|Date))$")


def kebab(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


class Model:
    def __init__(self, model):
        self.ops = model["operations"]
        self.shapes = model["shapes"]

    def input(self, op):
        ref = self.ops[op].get("input")
        return self.shapes[ref["shape"]] if ref else {"type": "structure", "members": {}}

    def output(self, op):
        ref = self.ops[op].get("output")
        return self.shapes[ref["shape"]] if ref else {"type": "structure", "members": {}}

    def errors(self, op):
        return sorted(e["shape"] for e in self.ops[op].get("errors", []))

    def shape(self, name):
        return self.shapes[name]

    def list_op(self, noun):
        """List<Noun>s in whichever plural the model spells."""
        candidates = [noun + "s", noun + "es"]
        if noun.endswith("y"):
            candidates.append(noun[:-1] + "ies")
        return next((f"List{c}" for c in candidates if f"List{c}" in self.ops), None)

    def default(self, shape_name, depth=0):
        """A minimal value of a shape: what an output that requires a member sagebox cannot
        derive carries (empty structures and lists, zeros, an enum's first value)."""
        s = self.shapes[shape_name]
        t = s["type"]
        if t == "structure":
            if depth > 4:
                return {}
            return {m: self.default(s["members"][m]["shape"], depth + 1) for m in s.get("required", [])}
        if t == "list":
            return []
        if t == "map":
            return {}
        if t == "string":
            return s["enum"][0] if "enum" in s else sample_string(s)
        if t in ("integer", "long", "float", "double"):
            return max(s.get("min", 0), 0)
        if t == "boolean":
            return True
        if t == "timestamp":
            return 0
        return ""


def sample_string(shape):
    """The first sample that fits the shape's length and pattern ("" if none does)."""
    pattern = shape.get("pattern")
    kind = re.search(r":([a-z][a-z\-]*)(?:\\)?/", pattern or "")
    lo, hi = shape.get("min", 0), shape.get("max", 1 << 20)
    for sample in SAMPLES:
        value = sample.replace("{type}", kind.group(1) if kind else "sagebox")
        if len(value) < lo:
            value = value + "0" * (lo - len(value))
        if len(value) > hi:
            continue
        try:
            if pattern is None or re.fullmatch(pattern, value):
                return value
        except re.error:
            return value
    return ""


def reaches_member(m, shape_name, member, seen=None):
    """Whether a structure the shape reaches has a member of this name (EndpointName inside a
    monitoring job definition's EndpointInput)."""
    seen = set() if seen is None else seen
    if shape_name in seen:
        return False
    seen.add(shape_name)
    s = m.shape(shape_name)
    if s["type"] == "structure":
        if member in s["members"]:
            return True
        return any(reaches_member(m, r["shape"], member, seen) for r in s["members"].values())
    if s["type"] == "list":
        return reaches_member(m, s["member"]["shape"], member, seen)
    if s["type"] == "map":
        return reaches_member(m, s["value"]["shape"], member, seen)
    return False


def status_member(m, noun, out_members):
    """The member that reports the family's lifecycle: <Noun>Status, else Status, else a
    <Something>Status whose enum has a settled value."""
    def enum_of(member):
        s = m.shape(out_members[member]["shape"])
        return s.get("enum")
    for cand in (f"{noun}Status", "Status"):
        if cand in out_members and enum_of(cand):
            return cand
    for name in out_members:
        if name.endswith("Status") and enum_of(name) and any(v in enum_of(name) for v in SETTLE["settled"]):
            return name
    return None


def settle_table(values):
    """Each role's status in the enum's own spelling (IN_PROGRESS, InProgress, INPROGRESS)."""
    def norm(v):
        return v.replace("_", "").lower()
    spelled = {norm(v): v for v in values}
    table = {role: next((spelled[norm(p)] for p in prefs if norm(p) in spelled), None)
             for role, prefs in SETTLE.items()}
    table["updated"] = table["updated"] or table["settled"]
    return table


def member_kind(name, shape, fam):
    if name == fam["arn_member"] or (fam["arn_member"] and name.endswith(fam["arn_member"])
                                     and name not in fam["create_input"]):
        return "arn"
    if shape["type"] == "timestamp" and CREATED.match(name):
        return "created"
    if shape["type"] == "timestamp" and MODIFIED.match(name):
        return "modified"
    if fam["status"] and name == fam["status"]["member"]:
        return "status"
    if name in fam["generated"]:
        return "generated"
    return "echo"


def out_members(m, fam, struct):
    """Each output member with where its value comes from; the defaults for the members the
    shape requires (used where neither the request nor sagebox has a value); and, for members
    the request may carry as structures, the defaults of what those structures require."""
    members, fill = [], {}
    create_in = fam["create_input"]
    for name, ref in struct["members"].items():
        entry = {"name": name, "kind": member_kind(name, m.shape(ref["shape"]), fam)}
        if entry["kind"] == "echo" and name not in create_in:
            # a member the request names differently (MonitoringJobDefinitionName for
            # JobDefinitionName), or carries inside a structure (EndpointInput.EndpointName)
            alias = next((k for k in create_in if name.endswith(k) and k != name), None)
            if alias:
                entry["from"] = alias
            elif reaches_member(m, fam["create_shape"], name):
                entry["kind"] = "deep"
        members.append(entry)
        target = m.shape(ref["shape"])
        if target["type"] == "structure" and target.get("required"):
            fill[name] = m.default(ref["shape"])
    derived = {x["name"] for x in members if x["kind"] not in ("echo", "deep")}
    defaults = {r: m.default(struct["members"][r]["shape"]) for r in struct.get("required", [])
                if r not in derived}
    return members, defaults, fill


def family(m, noun):
    ops = {verb: verb + noun for verb in ("Create", "Describe", "Update", "Delete", "Start", "Stop")
           if verb + noun in m.ops}
    lst = m.list_op(noun)
    if lst:
        ops["List"] = lst
    create_in = m.input(ops["Create"])["members"]
    create_out = m.output(ops["Create"])["members"]
    describe_in = m.input(ops["Describe"])
    describe_out = m.output(ops["Describe"])
    nest = NESTED.get(noun)
    body = m.shape(describe_out["members"][nest]["shape"]) if nest else describe_out

    required = describe_in.get("required", [])
    ids = [k for k in describe_in["members"] if k in required or k in create_in or k in create_out]
    generated = [k for k in ids if k not in create_in]
    # identifiers the Create answer carries that the request did not (ProjectId, a gateway's Id)
    generated += [k for k in create_out if k.endswith("Id") and k not in create_in and k not in generated]
    arn_member = next((k for k in create_out if k.endswith("Arn") and k != "ExecutionRoleArn"), None)
    if arn_member is None:
        arn_member = next((k for k in body["members"] if k == f"{noun}Arn"), None)
    if arn_member is None:
        arn_member = next((k for k in body["members"] if k.endswith("Arn") and k not in create_in), None)
    # What NameContains and SortBy=Name look at: the identifying name, else the Create input's
    # <Noun>Name (a Domain is identified by its generated DomainId but named by DomainName).
    name_member = next((k for k in ids if k.endswith("Name") and k in create_in), None) \
        or next((k for k in (f"{noun}Name", "Name") if k in create_in), None) or ids[-1]
    fam = {
        "name": noun,
        "name_member": name_member,
        "store_as": SAME_AS.get(noun, noun),
        "arn_type": ARN_TYPES.get(noun, kebab(noun)),
        "arn_member": arn_member,
        "operations": ops,
        "ids": ids,
        "required_ids": [k for k in ids if k in required],
        "generated": {k: ("arn" if k.endswith("Arn") else ID_FORMATS.get(k, DEFAULT_ID)) for k in generated},
        "arn_format": ARN_FORMATS.get(noun),
        "create_input": list(create_in),
        "create_shape": m.ops[ops["Create"]]["input"]["shape"],
        "nest": nest,
        "version_member": VERSIONED.get(noun),
        "cascade": noun in CASCADE,
        # a Describe that reports how the last Update went (a FeatureGroup's LastUpdateStatus)
        "reports_last_update": "LastUpdateStatus" in describe_out["members"],
        "status": None,
        "create_output": list(create_out),
        "errors": {verb: m.errors(op) for verb, op in ops.items()},
    }
    smember = status_member(m, noun, body["members"])
    # A status the Create request sets (a ModelCard's) is the user's, not a lifecycle.
    if smember and smember not in create_in:
        values = m.shape(body["members"][smember]["shape"])["enum"]
        fam["status"] = {"member": smember, **settle_table(values)}
    members, defaults, fill = out_members(m, fam, body)
    fam["describe"] = members
    fam["describe_defaults"] = defaults
    fam["describe_fill"] = fill
    if lst:
        lo = m.output(lst)
        list_member = next(k for k, r in lo["members"].items() if m.shape(r["shape"])["type"] == "list")
        summary_shape = m.shape(m.shape(lo["members"][list_member]["shape"])["member"]["shape"])
        fam["list_member"] = list_member
        summary, sdefaults, sfill = out_members(m, fam, summary_shape)
        fam["summary"] = summary
        fam["summary_defaults"] = sdefaults
        fam["summary_fill"] = sfill
        fam["list_filters"] = list(m.input(lst)["members"])
        sort = m.input(lst)["members"].get("SortBy")
        fam["sort_by"] = m.shape(sort["shape"]).get("enum", []) if sort else []
    if "Update" in ops:
        fam["update_rules"] = update_rules(m, ops["Update"], ids, create_in)
    del fam["create_shape"]
    return fam


# Update members that change another member rather than set their own (beyond the name forms
# `XToRemove`, `XToAdd`, `XToDelete`, `XForUpdate` that `update_rules` reads).
UPDATE_OVERRIDES = {
    "FeatureAdditions": ["append", "FeatureDefinitions"],
    "DeleteProperties": ["delete_members", None],
    "TargetVersion": ["ignore", None],
    "ClientToken": ["ignore", None],
}


def update_rules(m, op, ids, create_in):
    """How an Update's members change the stored request: by default a member replaces the
    stored one; a map (Parameters, Properties) and a structure of a partial-update shape
    (GitConfigForUpdate) merge into it key by key; `XToRemove` removes keys from map X, `XToAdd`
    appends to list X, `XToDelete` removes items from list X, `XForUpdate` merges into X."""
    rules = {}
    members = m.input(op)["members"]
    for k, ref in members.items():
        shape = m.shape(ref["shape"])
        created = create_in.get(k, {}).get("shape")
        if shape["type"] == "map" or (shape["type"] == "structure" and created and created != ref["shape"]):
            rules[k] = ["merge", k]
    for k in members:
        if k in ids:
            continue
        if k in UPDATE_OVERRIDES:
            rules[k] = UPDATE_OVERRIDES[k]
        elif k.endswith("ToRemove"):
            rules[k] = ["remove_keys", k[: -len("ToRemove")]]
        elif k.endswith("ToAdd"):
            rules[k] = ["append", k[: -len("ToAdd")]]
        elif k.endswith("ToDelete"):
            rules[k] = ["remove_items", k[: -len("ToDelete")]]
        elif k.endswith("ForUpdate"):
            rules[k] = ["merge", k[: -len("ForUpdate")]]
    return rules


def parents(fams):
    """A family's parents: families whose single identifying member its Create input requires,
    or whose identifying members are a strict subset of its own."""
    by_id = {}
    arn_of = {f["name"]: f["arn_member"] for f in fams.values()}
    for f in fams.values():
        if f["arn_member"] and f["name"] == f["store_as"] and f["arn_member"] not in ("Arn",):
            by_id.setdefault(f["arn_member"], f["name"])
    # an identifying member several families share (JobDefinitionName) names none of them
    shared = {}
    for f in fams.values():
        if f["name"] == f["store_as"] and len(f["ids"]) == 1 and not f["version_member"]:
            shared[f["ids"][0]] = shared.get(f["ids"][0], 0) + 1
    for f in fams.values():
        generic = f["ids"] and (f["ids"][0] in ("Name", "Identifier") or f["ids"][0].endswith("Arn"))
        if len(f["ids"]) == 1 and not generic and f["name"] == f["store_as"] \
                and shared.get(f["ids"][0]) == 1 and f["ids"][0] not in NOT_PARENT_KEYS:
            by_id.setdefault(f["ids"][0], f["name"])
    for f in fams.values():
        found = []
        for member in f["create_required"] + f["ids"]:
            p = by_id.get(member)
            if p and p != f["name"] and p != f["store_as"] and (member, p) not in found:
                found.append((member, p))
        f["parents"] = [{"member": mem, "family": p, "arn_member": arn_of[p]} for mem, p in found]
        del f["create_required"]


def families(model):
    m = Model(model)
    nouns = sorted({op[len(v):] for op in m.ops for v in ("Create", "Describe") if op.startswith(v)})
    fams = {}
    for noun in nouns:
        if f"Create{noun}" in m.ops and f"Describe{noun}" in m.ops:
            fams[noun] = family(m, noun)
            fams[noun]["create_required"] = m.input(f"Create{noun}").get("required", [])
            fams[noun]["hand_written"] = noun in HAND_WRITTEN
    parents(fams)
    return fams


# Operations of hand-written families that sagebox answers with a reason instead of an effect.
REFUSED = {
    "UpdateTrainingJob": "sagebox's training jobs take no profiler, keep-alive or remote-debug "
                         "changes while they run; stop the job and start another with the new settings",
}

VERBS = ("Create", "Describe", "List", "Update", "Delete", "Start", "Stop")


def operation_rules(model, fams, implemented):
    """How sagebox answers each operation of the model:

    - `real`: a hand-written handler (tools/operations.py lists them);
    - `family`: a stored family's Create/Describe/List/Update/Delete/Start/Stop;
    - `policy`: Put/Get/Delete<Resource>Policy, a document kept on the named resource;
    - `list`: a List of things sagebox never makes (cluster nodes, devices): an empty page once
      the named parents exist;
    - `describe`: a Describe/Get of such a thing: ResourceNotFound, or, when every member it
      requires names an existing parent, an answer built from that parent;
    - `action`: any other verb on existing resources: checked, then answered;
    - `refused`: a reason (REFUSED).
    """
    m = Model(model)
    by_op = {}
    for f in fams.values():
        for verb, op in f["operations"].items():
            by_op[op] = (f, verb)
    ids = {}
    for f in fams.values():
        for member in f["ids"]:
            if member not in ("Name", "Identifier") and not member.endswith("Arn") and len(f["ids"]) == 1:
                ids.setdefault(member, f["name"])
    rules = {}
    for op in sorted(m.ops):
        inp = m.input(op)
        refs = [{"member": k, "family": ids[k]} for k in inp.get("required", []) if k in ids]
        rule = {"errors": m.errors(op), "output": list(m.output(op)["members"])}
        if op in REFUSED:
            rule.update(rule="refused", reason=REFUSED[op])
        elif op in implemented:
            rule.update(rule="real")
            # a hand-written handler may wrap the engine's answer for its family
            if op in by_op and not by_op[op][0]["hand_written"]:
                f, verb = by_op[op]
                out = m.ops[op].get("output")
                rule.update(family=f["name"], verb=verb, defaults=m.default(out["shape"]) if out else {})
        elif op in by_op and not by_op[op][0]["hand_written"]:
            f, verb = by_op[op]
            out = m.ops[op].get("output")
            rule.update(rule="family", family=f["name"], verb=verb,
                        defaults=m.default(out["shape"]) if out else {})
        elif op.endswith("Policy") and op.startswith(("Put", "Get", "Delete")):
            rule.update(rule="policy", refs=refs, policy=op[len(re.match("Put|Get|Delete", op).group(0)):])
        elif op.startswith("List"):
            rule.update(rule="list", refs=refs, defaults=m.default(m.ops[op]["output"]["shape"]))
        elif op.startswith(("Describe", "Get")):
            # Answered from the parent only when the request names nothing but parents.
            extra = [k for k in inp["members"] if k not in ids and k not in ("NextToken", "MaxResults")]
            rule.update(rule="describe", refs=refs, found=not extra,
                        defaults=m.default(m.ops[op]["output"]["shape"]) if "output" in m.ops[op] else {})
        else:
            out = m.ops[op].get("output")
            rule.update(rule="action", refs=refs, defaults=m.default(out["shape"]) if out else {},
                        echo=[k for k in (m.output(op)["members"]) if k in inp["members"]])
        rules[op] = rule
    return rules


def search_resources(model, fams):
    """Search's resource types: the SearchRecord member each answers in, the family whose
    resources it searches (None: a kind sagebox never makes), and that member's shape members."""
    m = Model(model)
    record = m.shape("SearchRecord")["members"]
    out = {}
    for kind in m.shape("ResourceType")["enum"]:
        member = {"ExperimentTrial": "Trial", "ExperimentTrialComponent": "TrialComponent"}.get(kind, kind)
        if member not in record:
            continue
        shape = m.shape(record[member]["shape"])
        out[kind] = {"record": member, "family": member if member in fams else None,
                     "members": list(shape["members"])}
    return out


def generate(model, implemented):
    fams = families(model)
    return {"families": fams, "operations": operation_rules(model, fams, set(implemented)),
            "search": search_resources(model, fams)}
