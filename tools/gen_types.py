"""Typed request shapes and string enums for tools/gen_models.py.

For one botocore model this renders src/aws/model/typed/<service>.rs: a serde struct for every
structure shape the implemented operations' inputs reach, and a `string_enum!` for every enum string
shape they reach plus every `*Status` enum in the model (services keep their state in those). The
hand-written half (the macro, `Timestamp`, `decode`) is src/aws/model/typed/mod.rs.

Every member is an `Option`, required ones too: validation has already run when a request is decoded,
and requests stored by older versions, which a newer model may require more of, must still load.
"""

import re

# Instance-type enums list hundreds of values and grow with every botocore release; sagebox reads
# them by prefix (ml.p*, ml.g* mean GPUs), so the structs keep them as `String` and no enum is made.
STRING_ENUMS = re.compile(r"InstanceType$")

# Rust names a shape or member may not take as written: keywords, and prelude names a generated
# type would shadow.
KEYWORDS = {
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do",
    "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
}
PRELUDE = {
    "Box", "Clone", "Copy", "Debug", "Default", "Drop", "Eq", "Err", "Fn", "From", "Hash", "Into",
    "Iterator", "None", "Ok", "Option", "Ord", "PartialEq", "PartialOrd", "Result", "Self", "Send",
    "Sized", "Some", "String", "Sync", "ToString", "Vec", "Timestamp", "BTreeMap",
}


def type_name(shape_name):
    """The Rust type name of a shape: its botocore name, unless Rust or the prelude claims it."""
    return shape_name + "Shape" if shape_name in PRELUDE or shape_name.lower() in KEYWORDS else shape_name


def field_name(member):
    """`S3DataType` → `s3_data_type`; "SageMaker" is one word (`enable_sagemaker_metrics_time_series`)."""
    member = member.replace("SageMaker", "Sagemaker")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", member).lower()
    snake = re.sub(r"[^a-z0-9_]", "_", snake)
    return snake + "_" if snake in KEYWORDS or snake[0].isdigit() else snake


def variant_name(value):
    """`ml.m5.large` → `MlM5Large`, `InProgress` stays, `LAST_MODIFIED` → `LastModified`."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", value) if w]
    name = "".join(w.capitalize() if w.isupper() and len(w) > 1 else w[0].upper() + w[1:] for w in words)
    if not name:
        name = "Empty"
    return "V" + name if name[0].isdigit() else name


def is_enum(shape):
    return shape["type"] == "string" and "enum" in shape


def enum_shapes(model, reachable):
    shapes = model["shapes"]
    names = {n for n in reachable if is_enum(shapes[n])}
    names |= {n for n, s in shapes.items() if is_enum(s) and n.endswith("Status")}
    return sorted(n for n in names if not STRING_ENUMS.search(n))


def rust_type(shapes, name):
    shape = shapes[name]
    t = shape["type"]
    if t == "structure":
        return type_name(name)
    if t == "string":
        return type_name(name) if is_enum(shape) and not STRING_ENUMS.search(name) else "String"
    if t == "list":
        return f"Vec<{rust_type(shapes, shape['member']['shape'])}>"
    if t == "map":
        return f"BTreeMap<String, {rust_type(shapes, shape['value']['shape'])}>"
    simple = {"integer": "i64", "long": "i64", "float": "f64", "double": "f64", "boolean": "bool",
              "timestamp": "Timestamp", "blob": "String"}
    if t not in simple:
        raise SystemExit(f"gen_models.py: shape {name} has type {t!r}, which gen_types.py does not handle yet")
    return simple[t]


def boxed_members(shapes, structs):
    """(struct, member) pairs to Box: a direct struct member whose type leads back to the struct.

    Vec and BTreeMap already put their elements behind a pointer, so only direct members count.
    """
    direct = {s: {m["shape"] for m in shapes[s]["members"].values() if shapes[m["shape"]]["type"] == "structure"}
              for s in structs}

    def reaches(start, goal):
        seen, stack = set(), [start]
        while stack:
            n = stack.pop()
            if n == goal:
                return True
            if n not in seen:
                seen.add(n)
                stack.extend(direct.get(n, ()))
        return False

    return {(s, m) for s in structs for m, spec in shapes[s]["members"].items()
            if spec["shape"] in direct and reaches(spec["shape"], s)}


def emit_struct(shapes, name, boxed):
    shape = shapes[name]
    out = [f"/// `{name}`.", "#[derive(Debug, Clone, Default, Deserialize, Serialize)]", "#[serde(default)]",
           f"pub struct {type_name(name)} {{"]
    fields = set()
    for member, spec in shape["members"].items():
        field = field_name(member)
        if field in fields:
            raise SystemExit(f"gen_models.py: {name}.{member} collides with another member as `{field}`")
        fields.add(field)
        ty = rust_type(shapes, spec["shape"])
        if (name, member) in boxed:
            ty = f"Box<{ty}>"
        out.append(f'    #[serde(rename = "{member}", skip_serializing_if = "Option::is_none")]')
        out.append(f"    pub {field}: Option<{ty}>,")
    out.append("}")
    return out


def emit_enum(shapes, name):
    values = shapes[name]["enum"]
    variants = [variant_name(v) for v in values]
    if len(set(variants)) != len(variants):
        raise SystemExit(f"gen_models.py: enum {name} has values that map to the same variant: {values}")
    out = [f"string_enum! {{", f"    /// `{name}`.", f"    {type_name(name)} {{"]
    out += [f'        {v} = "{value}",' for v, value in zip(variants, values)]
    out += ["    }", "}"]
    return out


def generate(model, service, botocore_version, reachable):
    shapes = model["shapes"]
    structs = [n for n in reachable if shapes[n]["type"] == "structure"]
    boxed = boxed_members(shapes, structs)
    enums = enum_shapes(model, reachable)
    out = [
        f"//! Typed request shapes and enums for `{service}` {model['metadata']['apiVersion']}, generated by",
        f"//! tools/gen_models.py from botocore {botocore_version}. Do not edit: run `python3 tools/gen_models.py`.",
        "//!",
        "//! One struct per structure shape the implemented operations' inputs reach (every member optional;",
        "//! decode with `super::decode` after validation), and one enum per enum string shape they reach",
        "//! or whose name ends in `Status`. Instance-type shapes stay `String`; see tools/gen_types.py.",
        "",
        "#![allow(dead_code)]",
    ]
    body = []
    for name in structs:
        body += [""] + emit_struct(shapes, name, boxed)
    for name in enums:
        body += [""] + emit_enum(shapes, name)
    text = "\n".join(body)
    # Only what the body uses, so that a model without maps or timestamps leaves no unused import.
    if "BTreeMap<" in text:
        out += ["", "use std::collections::BTreeMap;"]
    if structs:
        out += ["", "use serde::{Deserialize, Serialize};"]
    ours = [n for n, used in (("string_enum", enums), ("Timestamp", "Timestamp" in text)) if used]
    if ours:
        out += ["", f"use super::{{{', '.join(ours)}}};" if len(ours) > 1 else f"use super::{ours[0]};"]
    return "\n".join(out + body) + "\n"
