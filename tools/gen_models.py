#!/usr/bin/env python3
"""Generate sagebox's request-validation tables from botocore service models.

For every service in tools/operations.py this reads botocore's `service-2.json` and writes
src/aws/model/<service>.rs: the implemented operations, every shape reachable from their input
shapes (members, required members, lengths, ranges, patterns, enums), and the names of all the
model's operations. src/aws/model/mod.rs holds the types and the validator that reads the tables.
It also writes src/aws/model/typed/<service>.rs, serde types for those shapes (tools/gen_types.py),
and src/aws/model/unicode.rs, the Unicode classes the patterns of all services use.

    python3 tools/gen_models.py           # regenerate
    python3 tools/gen_models.py --check   # exit 1 if the committed files are stale

Only the standard library and an installed botocore are needed. The output is sorted, so the same
botocore (and Python, for the Unicode tables) gives byte-identical files.

AWS validates patterns with Java's regex engine; sagebox uses the `regex` crate, built without its
Unicode general-category tables. `translate_pattern` rewrites the Java-isms the models use into an
equivalent Rust pattern; the original text is kept as well, because error messages quote it.
"""

import argparse
import difflib
import gzip
import json
import re
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from operations import OPERATIONS  # noqa: E402
import gen_families  # noqa: E402
import gen_types  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "src" / "aws" / "model"
FAMILIES = ROOT / "src" / "service" / "stored" / "families.json"

# Services whose every operation gets validation tables: SageMaker's unimplemented operations are
# answered by the stored-resource engine (tools/gen_families.py), which needs validated input.
VALIDATE_ALL = {"sagemaker"}

# Patterns Rust cannot express as written (look-around, Java oddities), keyed by the model's text.
# Each value is an equivalent Java pattern without the unsupported part; it still goes through
# `translate_pattern`. Where a look-ahead only restates the shape's min/max length, it is dropped.
REGEX_OVERRIDES = {
    # Not blank: "(?!\s*$)" forbids an all-whitespace value.
    r"(?!\s*$).+": r".*\S.*",
    # First character is not '.' or '-'.
    r"(?!^[.-])^([a-zA-Z0-9-_.]+)": r"([a-zA-Z0-9_][a-zA-Z0-9_.\-]*)",
    # The look-aheads repeat the shapes' min/max lengths (1..256, 1..32, 1..1024).
    r"(?=.{1,256}$)arn:aws[a-z\-]*:cloudformation:[a-z0-9\-]*:[0-9]{12}:stack/[a-zA-Z][a-zA-Z0-9-]{0,127}/.*":
        r"arn:aws[a-z\-]*:cloudformation:[a-z0-9\-]*:[0-9]{12}:stack/[a-zA-Z][a-zA-Z0-9-]{0,127}/.*",
    r"(?=.{1,32}$)[a-zA-Z0-9](-*[a-zA-Z0-9])*": r"[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    r"(?=.{1,1024}$)(https)://([^/]+)/(.+)": r"(https)://([^/]+)/(.+)",
    r"(?=.{1,255}$)([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)*":
        r"([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)*",
    # "(?<!-)": the name part does not end with '-'.
    r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?([a-zA-Z0-9]([a-zA-Z0-9\-]){0,62})(?<!-)":
        r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)",
    r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)":
        r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)",
    r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)(\/[0-9]{1,9})?":
        r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\/[0-9]{1,9})?",
    # {0,1024} over a class of all Unicode letters, marks, ... exceeds regex's size limit; the
    # shape's max length (1024) says the same.
    r"[\p{L}\p{M}\p{Z}\p{N}\p{P}]{0,1024}": r"[\p{L}\p{M}\p{Z}\p{N}\p{P}]*",
    # "${1,128}" repeats an end anchor, which Java accepts and Rust rejects; it means "$".
    r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}": r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)",
    r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}": r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)",
    # "(?!.*\.\.)": an absolute path with no ".." anywhere: no dot directly follows a dot.
    r"/(?!.*\.\.)[a-zA-Z0-9/_.\-]+": r"/(?:\.?[a-zA-Z0-9/_\-])+\.?|/\.",
}

# Java's predefined classes are ASCII-only; Rust's are Unicode-aware, so spell Java's out.
JAVA_ESCAPES = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[a-zA-Z_0-9]",
    "W": "[^a-zA-Z_0-9]",
    "s": r"[ \t\n\x0B\x0C\r]",
    "S": r"[^ \t\n\x0B\x0C\r]",
}
# Java's '.' stops at every line terminator, Rust's only at '\n'.
JAVA_DOT = r"[^\n\r\x{85}\x{2028}\x{2029}]"
# Java's POSIX classes (\p{Alnum} ...) are US-ASCII.
JAVA_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"!-/:-@\[-`{-~",
    "Graph": r"!-~",
    "Print": r" -~",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\x0C\r",
}
GENERAL_CATEGORIES = {"L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
                      "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So",
                      "Z", "Zs", "Zl", "Zp"}


class Unsupported(Exception):
    pass


class UnicodeClass:
    """A `\\p{..}` general category; emitted once, into unicode.rs, as a `UNICODE_*` constant."""

    def __init__(self, category, negated):
        self.category, self.negated = category, negated

    @property
    def const_name(self):
        return f"UNICODE_{'NOT_' if self.negated else ''}{self.category.upper()}"

    def __eq__(self, other):
        return isinstance(other, UnicodeClass) and (self.category, self.negated) == (other.category, other.negated)

    def __hash__(self):
        return hash((self.category, self.negated))


def translate_pattern(java):
    """Rewrite a Java regex as a list of Rust `regex` pieces (str or UnicodeClass), to be concatenated.

    Raises Unsupported for constructs with no rewrite (look-around without an override).
    """
    src = REGEX_OVERRIDES.get(java, java)
    pieces, buf = [], []
    i, depth = 0, 0  # depth: nesting of [...] classes (Java, like Rust, allows nested classes)

    def flush():
        if buf:
            pieces.append("".join(buf))
            buf.clear()

    while i < len(src):
        c = src[i]
        if c == "\\":
            if i + 1 >= len(src):
                raise Unsupported("trailing backslash")
            e = src[i + 1]
            if e in "pP":
                if src.startswith("{", i + 2):
                    end = src.index("}", i + 2)
                    name, i = src[i + 3:end], end + 1
                else:
                    name, i = src[i + 2], i + 3
                name = name[2:] if name.startswith("Is") and name[2:] in GENERAL_CATEGORIES else name
                neg = e == "P"
                if name in JAVA_POSIX:
                    buf.append(f"[{'^' if neg else ''}{JAVA_POSIX[name]}]")
                elif name in GENERAL_CATEGORIES:
                    flush()
                    pieces.append(UnicodeClass(name, neg))
                else:
                    raise Unsupported(f"\\p{{{name}}}")
                continue
            if e == "u":
                cp, i = int(src[i + 2:i + 6], 16), i + 6
                if 0xD800 <= cp < 0xDC00 and src.startswith("\\u", i):  # UTF-16 surrogate pair
                    low = int(src[i + 2:i + 6], 16)
                    cp, i = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), i + 6
                if 0xD800 <= cp < 0xE000:
                    raise Unsupported("lone surrogate")
                buf.append(f"\\x{{{cp:X}}}")
                continue
            buf.append(JAVA_ESCAPES.get(e, src[i:i + 2]))
            i += 2
            continue
        if c == "(" and re.match(r"\(\?<?[=!]", src[i:]):
            raise Unsupported("look-around")
        if c == "[":
            depth += 1
            buf.append(c)
            i += 1
            if src.startswith("^", i):
                buf.append("^")
                i += 1
            if src.startswith("]", i):  # a leading ']' is literal in Java
                buf.append(r"\]")
                i += 1
            continue
        if c == "]" and depth:
            depth -= 1
        elif c == "." and not depth:
            c = JAVA_DOT
        buf.append(c)
        i += 1
    flush()
    return pieces


def unicode_class_body(cls):
    """The ranges of a general category as `regex` class items (surrogates left out)."""
    ranges, start, prev = [], None, None
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        if unicodedata.category(chr(cp)).startswith(cls.category):
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    if start is not None:
        ranges.append((start, prev))

    def char(cp):
        return chr(cp) if chr(cp).isascii() and chr(cp).isalnum() else f"\\\\x{{{cp:X}}}"

    return [char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges]


# ---------------------------------------------------------------------------------------------
# Model loading and reachability


def botocore_model(service):
    try:
        import botocore
    except ImportError:
        sys.exit("gen_models.py: botocore is not installed (pip install botocore)")
    base = Path(botocore.__file__).parent / "data" / service
    version = sorted(p.name for p in base.iterdir() if p.is_dir())[-1]
    path = base / version / "service-2.json"
    if path.exists():
        model = json.loads(path.read_text())
    else:
        with gzip.open(path.with_suffix(".json.gz"), "rt", encoding="utf-8") as f:
            model = json.load(f)
    return model, botocore.__version__


def reachable_shapes(model, operations):
    shapes, seen = model["shapes"], set()
    stack = [model["operations"][op]["input"]["shape"] for op in operations if "input" in model["operations"][op]]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        stack.extend(m["shape"] for m in shape.get("members", {}).values())
        stack.extend(shape[k]["shape"] for k in ("member", "key", "value") if k in shape)
    return sorted(seen)


# ---------------------------------------------------------------------------------------------
# Rust emission


def rust_str(s):
    """A Rust string literal: raw when possible, so patterns read as written."""
    if s.isprintable() and "\\" not in s and '"' not in s:
        return f'"{s}"'
    if s.isprintable() and '"#' not in s:
        return f'r"{s}"' if '"' not in s else f'r#"{s}"#'
    out = "".join(c if c.isprintable() and c not in '\\"' else
                  ("\\\\" if c == "\\" else '\\"' if c == '"' else f"\\u{{{ord(c):x}}}") for c in s)
    return f'"{out}"'


def opt(v, float_=False):
    if v is None:
        return "None"
    return f"Some({float(v)!r})" if float_ else f"Some({int(v)})"


def const_name(shape_name):
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", shape_name)
    return "P_" + snake.upper()


def wrap_list(items, indent, width=100):
    """Items packed into lines of at most `width` columns, each line indented."""
    lines, line = [], ""
    for item in items:
        piece = item + ","
        if line and len(indent) + len(line) + 1 + len(piece) > width:
            lines.append(indent + line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    if line:
        lines.append(indent + line)
    return lines


def fields_block(fields, indent, head, tail):
    """`head { a: 1, b: 2 }tail` on one line if it fits in 100 columns, else one field a line."""
    one = f"{indent}{head} {{ {', '.join(f'{k}: {v}' for k, v in fields)} }}{tail}"
    if len(one) <= 100 and "\n" not in one:
        return [one]
    lines = [f"{indent}{head} {{"]
    for k, v in fields:
        if isinstance(v, list):  # a wrapped &[...] array
            lines.append(f"{indent}    {k}: &[")
            lines.extend(wrap_list(v, indent + "        "))
            lines.append(f"{indent}    ],")
        else:
            lines.append(f"{indent}    {k}: {v},")
    lines.append(f"{indent}}}{tail}")
    return lines


def str_array(values):
    return "&[" + ", ".join(rust_str(v) for v in values) + "]"


def emit_shape(name, shape, pattern_consts):
    t = shape["type"]
    ind = "        "
    if t == "structure":
        lines = [f"    Shape {{", f'        name: "{name}",', f"        kind: K::Structure {{", f"            members: &["]
        for mname, m in shape["members"].items():
            lines.append(f'                Member {{ name: "{mname}", target: "{m["shape"]}" }},')
        lines.append("            ],")
        req = shape.get("required", [])
        one = f"            required: {str_array(req)},"
        if len(one) <= 100:
            lines.append(one)
        else:
            lines += ["            required: &["] + wrap_list([rust_str(r) for r in req], "                ") + ["            ],"]
        lines += ["        },", "    },"]
        return lines
    if t == "list":
        fields = [("member", f'"{shape["member"]["shape"]}"'), ("min", opt(shape.get("min"))), ("max", opt(shape.get("max")))]
        kind = fields_block(fields, ind, "kind: K::List", ",")
    elif t == "map":
        fields = [("key", f'"{shape["key"]["shape"]}"'), ("value", f'"{shape["value"]["shape"]}"'),
                  ("min", opt(shape.get("min"))), ("max", opt(shape.get("max")))]
        kind = fields_block(fields, ind, "kind: K::Map", ",")
    elif t == "string":
        enum = shape.get("enum", [])
        pattern = shape.get("pattern")
        fields = [("min", opt(shape.get("min"))), ("max", opt(shape.get("max"))),
                  ("pattern", f"Some(&{pattern_consts[pattern]})" if pattern is not None else "None"),
                  ("enum_values", str_array(enum) if len(str_array(enum)) <= 60 else [rust_str(v) for v in enum]),
                  ("sensitive", "true" if shape.get("sensitive") else "false")]
        kind = fields_block(fields, ind, "kind: K::String", ",")
    elif t in ("integer", "long"):
        fields = [("min", opt(shape.get("min"))), ("max", opt(shape.get("max")))]
        kind = fields_block(fields, ind, f"kind: K::{t.capitalize()}", ",")
    elif t in ("float", "double"):
        fields = [("min", opt(shape.get("min"), True)), ("max", opt(shape.get("max"), True))]
        kind = fields_block(fields, ind, f"kind: K::{t.capitalize()}", ",")
    elif t == "blob":
        fields = [("min", opt(shape.get("min"))), ("max", opt(shape.get("max")))]
        kind = fields_block(fields, ind, "kind: K::Blob", ",")
    elif t in ("boolean", "timestamp"):
        kind = [f"{ind}kind: K::{t.capitalize()},"]
    else:
        raise SystemExit(f"gen_models.py: shape {name} has type {t!r}, which the generator does not handle yet")
    one = f'    Shape {{ name: "{name}", {kind[0].strip().rstrip(",")} }},'
    if len(kind) == 1 and len(one) <= 100:
        return [one]
    return ["    Shape {", f'        name: "{name}",', *kind, "    },"]


def emit_pattern(const, java, warnings):
    try:
        pieces = translate_pattern(java)
    except Unsupported as e:
        warnings.append(f"pattern {java!r} ({e}): no Rust form; add it to REGEX_OVERRIDES")
        pieces = [java]
    if pieces == [java]:
        rust = "&[]"
    else:
        rust = "&[" + ", ".join(p.const_name if isinstance(p, UnicodeClass) else rust_str(p) for p in pieces) + "]"
    one = f"static {const}: Pattern = Pattern::new({rust_str(java)}, {rust});"
    if len(one) <= 100:
        return [one], pieces
    return [f"static {const}: Pattern = Pattern::new(", f"    {rust_str(java)},", f"    {rust},", ");"], pieces


# Where a table file imports the Unicode classes its patterns use, known only once they are translated.
UNICODE_USE = object()


def generate(service, implemented, warnings):
    """The validation table and typed-shape texts of one service, and the Unicode classes it uses.
    Services in VALIDATE_ALL get tables for every operation (the stored-resource engine answers
    those sagebox does not implement by hand); typed shapes cover the implemented ones only."""
    model, botocore_version = botocore_model(service)
    meta = model["metadata"]
    ops = model["operations"]
    missing = [op for op in implemented if op not in ops]
    if missing:
        raise SystemExit(f"gen_models.py: {service} has no operation(s) {', '.join(missing)}")
    operations = sorted(ops) if service in VALIDATE_ALL else implemented
    shape_names = reachable_shapes(model, operations)
    shapes = model["shapes"]

    # One static per distinct pattern, named after the first shape (by name) that uses it.
    pattern_consts, used = {}, set()
    for name in shape_names:
        p = shapes[name].get("pattern")
        if p is not None and p not in pattern_consts:
            const = const_name(name)
            while const in used:
                const += "_"
            used.add(const)
            pattern_consts[p] = const

    out = [
        f"//! Validation tables for {meta.get('serviceFullName', service)} (`{service}` {meta['apiVersion']}),",
        f"//! generated by tools/gen_models.py from botocore {botocore_version}. Do not edit: list operations",
        "//! in tools/operations.py, run `python3 tools/gen_models.py`, and commit the result",
        "//! (`python3 tools/gen_models.py --check` fails while this file is stale).",
        "//!",
        "//! Holds every operation name in the model, and the shapes reachable from the input shapes of",
        "//! the operations it validates (every one, for services in VALIDATE_ALL). The types and the",
        "//! validator live in `super`.",
        "",
        "use super::{Member, Model, Operation, Pattern, Shape, ShapeKind as K};",
        UNICODE_USE,
        "",
        "pub static MODEL: Model = Model {",
        f'    service: "{service}",',
        "    operations: OPERATIONS,",
        "    shapes: SHAPES,",
        "    all_operations: ALL_OPERATIONS,",
        "};",
        "",
        "/// Every operation in the model, sorted, whether or not sagebox implements it.",
        "pub static ALL_OPERATIONS: &[&str] = &[",
        *[f'    "{op}",' for op in sorted(ops)],
        "];",
        "",
        "/// The operations whose input sagebox validates, sorted by name.",
        "static OPERATIONS: &[Operation] = &[",
    ]
    for op in sorted(operations):
        inp = ops[op].get("input", {}).get("shape")
        out.append(f'    Operation {{ name: "{op}", input: {f"Some({chr(34)}{inp}{chr(34)})" if inp else "None"} }},')
    out += ["];", "", "/// Shapes reachable from the validated operations' inputs, sorted by name.", "static SHAPES: &[Shape] = &["]
    for name in shape_names:
        out += emit_shape(name, shapes[name], pattern_consts)
    out += ["];"]

    if pattern_consts:
        out += ["", "// Patterns as the model writes them (error messages quote them), each with its Rust form",
                "// where Java's syntax or semantics differ (`&[]`: the same text); see tools/gen_models.py."]
    classes = set()
    for java, const in sorted(pattern_consts.items(), key=lambda kv: kv[1]):
        lines, pieces = emit_pattern(const, java, warnings)
        out += lines
        classes.update(p for p in pieces if isinstance(p, UnicodeClass))
    names = sorted(c.const_name for c in classes)
    use = f"use super::unicode::{{{', '.join(names)}}};" if len(names) > 1 else f"use super::unicode::{''.join(names)};"
    out = [use if line is UNICODE_USE else line for line in out if line is not UNICODE_USE or names]
    typed = gen_types.generate(model, service, botocore_version, reachable_shapes(model, implemented))
    return "\n".join(out) + "\n", typed, classes


def generate_unicode(classes):
    """One module with every general category any service's patterns use."""
    out = [
        "//! Unicode general categories as `regex` classes, generated by tools/gen_models.py from Python's",
        f"//! unicodedata {unicodedata.unidata_version}. Do not edit. Spelled out because sagebox builds `regex`",
        "//! without its general-category tables; every service's validation tables share them.",
    ]
    for cls in sorted(classes, key=lambda c: c.const_name):
        items = unicode_class_body(cls)
        out += ["", f"/// `\\{'P' if cls.negated else 'p'}{{{cls.category}}}`: Unicode general category {cls.category}.",
                f'pub const {cls.const_name}: &str = "{"[^" if cls.negated else "["}\\']
        lines = [""]
        for item in items:  # a Rust string continued over lines; "\\<newline>" swallows the indent
            if len(lines[-1]) + len(item) > 94:
                lines.append("")
            lines[-1] += item
        out += [f"    {line}\\" for line in lines[:-1]] + [f'    {lines[-1]}]";']
    return "\n".join(out) + "\n"


def without_unicode_tables(text):
    """The text minus the UNICODE_* tables, which follow the running Python's Unicode version."""
    text = re.sub(r"(?m)^//! unicodedata \S+\. ", "//! unicodedata. ", text)
    return re.sub(r'(?ms)^pub const UNICODE_\w+: &str = ".*?";$', "", text)


def output_path(service, folder=OUT_DIR):
    return folder / (re.sub(r"[^a-z0-9]", "_", service.lower()) + ".rs")


def outputs(warnings):
    """Every file the generator owns, as (path, text), in a stable order."""
    files, classes = [], set()
    for service, operations in sorted(OPERATIONS.items()):
        table, typed, used = generate(service, operations, warnings)
        files += [(output_path(service), table), (output_path(service, OUT_DIR / "typed"), typed)]
        classes |= used
    files.append((OUT_DIR / "unicode.rs", generate_unicode(classes)))
    model, _ = botocore_model("sagemaker")
    families = gen_families.generate(model, OPERATIONS["sagemaker"])
    files.append((FAMILIES, json.dumps(families, indent=1, sort_keys=True) + "\n"))
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed output is stale")
    args = parser.parse_args()

    stale, warnings = [], []
    for path, text in outputs(warnings):
        old = path.read_text() if path.exists() else ""
        if args.check:
            if old != text and without_unicode_tables(old) == without_unicode_tables(text):
                warnings.append(f"{path.relative_to(ROOT)}: Unicode tables differ only because this Python has "
                                f"unicodedata {unicodedata.unidata_version}; not counted as stale")
            elif old != text:
                stale.append(path)
                diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                            str(path.relative_to(ROOT)), "regenerated", n=1)
                sys.stderr.writelines(list(diff)[:40])
        elif old != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            print(f"{path.relative_to(ROOT)} is up to date")
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if stale:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + " (run python3 tools/gen_models.py)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
