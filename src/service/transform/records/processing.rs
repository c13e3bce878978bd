//! SageMaker's DataProcessing on one record: InputFilter and OutputFilter (a JSONPath subset)
//! and JoinSource's join of a record with its prediction, for CSV and JSON records.
//!
//! CSV fields keep their exact text. AWS describes a CSV line as a JSON array whose numeric fields
//! are numbers, but a number never needs quoting, so keeping the text gives the same output without
//! rewriting `1.50` as `1.5` or rounding long integers.

use serde_json::{Map, Value};

/// Record formats that DataProcessing understands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn format_of(content_type: &str) -> Result<Format, String> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media.to_ascii_lowercase().as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/json" | "application/jsonlines" | "application/x-jsonlines" => {
            Ok(Format::Json)
        }
        _ => Err(format!(
            "content type {content_type:?} cannot be filtered or joined: \
             only text/csv, application/json and application/jsonlines are supported"
        )),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("record is not UTF-8 text: {e}"))
}

/// Parses one CSV line (RFC 4180 quoting) into its fields' text.
fn parse_csv_line(line: &str) -> Result<Vec<String>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut at_start) = (false, true);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err(format!(
            "CSV record {line:?} has an unterminated quoted field"
        ));
    }
    fields.push(field);
    Ok(fields)
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_record(record: &[u8], format: Format) -> Result<Value, String> {
    let text = utf8(record)?;
    match format {
        Format::Csv => Ok(Value::Array(
            parse_csv_line(text)?
                .into_iter()
                .map(Value::String)
                .collect(),
        )),
        Format::Json => {
            serde_json::from_str(text).map_err(|e| format!("record is not valid JSON: {e}"))
        }
    }
}

fn render(value: &Value, format: Format) -> Vec<u8> {
    match (format, value) {
        (Format::Json, v) => v.to_string().into_bytes(),
        (Format::Csv, Value::Array(fields)) => {
            let fields: Vec<String> = fields.iter().map(|f| csv_quote(&field_text(f))).collect();
            fields.join(",").into_bytes()
        }
        (Format::Csv, v) => csv_quote(&field_text(v)).into_bytes(),
    }
}

/// One step of the supported JSONPath subset.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Keys(Vec<String>),
    Index(i64),
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
}

/// Splits on `sep` outside single or double quotes (keys are not unescaped).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quote) = (Vec::new(), 0, None);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c == sep => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_bracket(inner: &str, filter: &str) -> Result<Step, String> {
    let unsupported = || format!("unsupported JSONPath syntax [{inner}] in filter {filter:?}");
    let parts: Vec<&str> = split_unquoted(inner, ',')
        .into_iter()
        .map(str::trim)
        .collect();
    let key = |p: &str| {
        let q = p.chars().next()?;
        (p.len() >= 2 && (q == '\'' || q == '"') && p.ends_with(q))
            .then(|| p[1..p.len() - 1].to_string())
    };
    if let Some(keys) = parts.iter().map(|p| key(p)).collect::<Option<Vec<_>>>() {
        return Ok(match <[String; 1]>::try_from(keys) {
            Ok([k]) => Step::Key(k),
            Err(keys) => Step::Keys(keys),
        });
    }
    let int = |p: &str| p.trim().parse::<i64>().map_err(|_| unsupported());
    let bound = |p: &str| (!p.trim().is_empty()).then(|| int(p)).transpose();
    match parts.as_slice() {
        [one] if one.contains(':') => match one.split(':').collect::<Vec<_>>().as_slice() {
            [start, end] => Ok(Step::Slice(bound(start)?, bound(end)?)),
            _ => Err(unsupported()),
        },
        [one] => Ok(Step::Index(int(one)?)),
        many => Ok(Step::Indices(
            many.iter().map(|p| int(p)).collect::<Result<_, _>>()?,
        )),
    }
}

fn parse_path(filter: &str) -> Result<Vec<Step>, String> {
    let mut rest = filter
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("JSONPath filter {filter:?} must start with '$'"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('.') {
                return Err(format!(
                    "recursive descent '..' is not supported (filter {filter:?})"
                ));
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return Err(format!(
                    "unsupported JSONPath syntax .{name} in filter {filter:?}"
                ));
            }
            steps.push(Step::Key(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = split_unquoted(r, ']')[0].len();
            if close == r.len() {
                return Err(format!("unclosed '[' in filter {filter:?}"));
            }
            steps.push(parse_bracket(&r[..close], filter)?);
            rest = &r[close + 1..];
        } else {
            return Err(format!(
                "unsupported JSONPath syntax {rest:?} in filter {filter:?}"
            ));
        }
    }
    Ok(steps)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Resolves a possibly negative index against `len`.
fn resolve(i: i64, len: usize) -> Option<usize> {
    let j = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&j).then_some(j as usize)
}

/// Applies one step. Single keys and indices must exist; lists skip missing entries, as
/// Jayway JsonPath (which SageMaker uses) does.
fn apply_step(value: Value, step: &Step) -> Result<Value, String> {
    match (step, value) {
        (Step::Key(k), Value::Object(mut m)) => m
            .remove(k)
            .ok_or_else(|| format!("key {k:?} not found in the record")),
        (Step::Keys(keys), Value::Object(mut m)) => Ok(Value::Object(
            keys.iter()
                .filter_map(|k| m.remove_entry(k))
                .collect::<Map<_, _>>(),
        )),
        (Step::Index(i), Value::Array(a)) => {
            let len = a.len();
            resolve(*i, len)
                .and_then(|j| a.into_iter().nth(j))
                .ok_or_else(|| format!("index {i} is out of range for an array of {len}"))
        }
        (Step::Indices(is), Value::Array(a)) => Ok(Value::Array(
            is.iter()
                .filter_map(|&i| resolve(i, a.len()))
                .map(|j| a[j].clone())
                .collect(),
        )),
        (Step::Slice(start, end), Value::Array(a)) => {
            let len = a.len() as i64;
            let clamp = |b: i64| (if b < 0 { len + b } else { b }).clamp(0, len) as usize;
            let (s, e) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
            Ok(Value::Array(if s < e {
                a[s..e].to_vec()
            } else {
                Vec::new()
            }))
        }
        (step, v) => Err(format!(
            "filter step {step:?} does not apply to JSON {}",
            kind(&v)
        )),
    }
}

/// SageMaker's InputFilter/OutputFilter on one record of `content_type` (CSV line or JSON value).
/// Supports `$`, `.name`, `['name']`, `["name"]`, `['a','b']` (picks keys into a new object),
/// `[i]`, `[i,j,…]`, `[start:end]` and chains of them; negative indices count from the end.
/// The filter `$` returns the record untouched whatever its content type.
pub fn apply_filter(record: &[u8], content_type: &str, filter: &str) -> Result<Vec<u8>, String> {
    let steps = parse_path(filter)?;
    if steps.is_empty() {
        return Ok(record.to_vec());
    }
    let format = format_of(content_type)?;
    let mut value = parse_record(record, format)?;
    for step in &steps {
        value = apply_step(value, step)?;
    }
    Ok(render(&value, format))
}

/// The model's output for one record as CSV fields: a JSON array gives its elements, an object its
/// JSON text, a string its content; anything else is read as a CSV line.
fn output_fields(output: &str) -> Result<Vec<String>, String> {
    match serde_json::from_str::<Value>(output) {
        Ok(Value::Array(a)) => Ok(a.iter().map(field_text).collect()),
        Ok(v @ Value::Object(_)) => Ok(vec![v.to_string()]),
        Ok(Value::String(s)) => Ok(vec![s]),
        _ => parse_csv_line(output),
    }
}

/// JoinSource `Input`: the original input record joined with the model's output for it, in the
/// input's format. CSV gets the output's fields appended; a JSON object gets the output under
/// `SageMakerOutput`; a JSON array gets it appended as an element.
pub fn join_input(input: &[u8], output: &[u8], content_type: &str) -> Result<Vec<u8>, String> {
    let format = format_of(content_type)?;
    let output_text = utf8(output)?.trim();
    let joined = match (format, parse_record(input, format)?) {
        (Format::Csv, Value::Array(mut fields)) => {
            fields.extend(output_fields(output_text)?.into_iter().map(Value::String));
            Value::Array(fields)
        }
        (_, input) => {
            let output = serde_json::from_str(output_text)
                .unwrap_or_else(|_| Value::String(output_text.to_string()));
            match input {
                Value::Object(mut m) => {
                    m.insert("SageMakerOutput".to_string(), output);
                    Value::Object(m)
                }
                Value::Array(mut a) => {
                    a.push(output);
                    Value::Array(a)
                }
                other => {
                    return Err(format!(
                        "JoinSource Input needs each JSON record to be an object or an array, not a {}",
                        kind(&other)
                    ));
                }
            }
        }
    };
    Ok(render(&joined, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(record: &str, ct: &str, f: &str) -> String {
        String::from_utf8(apply_filter(record.as_bytes(), ct, f).unwrap()).unwrap()
    }

    fn join(input: &str, output: &str, ct: &str) -> String {
        String::from_utf8(join_input(input.as_bytes(), output.as_bytes(), ct).unwrap()).unwrap()
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn input_filter_drops_first_csv_column() {
        assert_eq!(filter("1,2,3", "text/csv", "$[1:]"), "2,3");
        assert_eq!(filter("1,2,3", "text/csv; charset=utf-8", "$[:-1]"), "1,2");
        assert_eq!(
            filter("1,\"a,b\",1.50", "text/csv", "$[1,2]"),
            "\"a,b\",1.50"
        );
    }

    #[test]
    fn output_filter_keeps_first_input_column_and_prediction_after_join() {
        let joined = join("id1,2.5,3", "0.87", "text/csv");
        assert_eq!(joined, "id1,2.5,3,0.87");
        assert_eq!(filter(&joined, "text/csv", "$[0,-1]"), "id1,0.87");
    }

    #[test]
    fn join_input_appends_csv_output_columns() {
        assert_eq!(join("1,2", "0.1,0.9\n", "text/csv"), "1,2,0.1,0.9");
        assert_eq!(join("1,2", "[0.1, \"a,b\"]", "text/csv"), "1,2,0.1,\"a,b\"");
        assert_eq!(
            join("1,2", "{\"p\":1}", "text/csv"),
            "1,2,\"{\"\"p\"\":1}\""
        );
    }

    #[test]
    fn join_input_adds_sagemaker_output_to_json_records() {
        let got = join(
            r#"{"features":[1,2]}"#,
            "{\"score\":0.5}\n",
            "application/jsonlines",
        );
        assert_eq!(
            json(&got),
            json!({"features": [1, 2], "SageMakerOutput": {"score": 0.5}})
        );
        assert_eq!(
            join("[1,2]", "label-a", "application/json"),
            "[1,2,\"label-a\"]"
        );
        assert!(join_input(b"3", b"1", "application/json").is_err());
        assert!(join_input(b"3", b"1", "image/png").is_err());
    }

    #[test]
    fn json_filters_cover_the_supported_subset() {
        let rec = r#"{"id":7,"features":[1,2,3,4],"a":{"b":"deep"}}"#;
        let f = |path| filter(rec, "application/json", path);
        assert_eq!(f("$.features[1:]"), "[2,3,4]");
        assert_eq!(f("$.features[1:3]"), "[2,3]");
        assert_eq!(f("$.features[0,2,-1]"), "[1,3,4]");
        assert_eq!(f("$.a.b"), "\"deep\"");
        assert_eq!(f("$['a']"), "{\"b\":\"deep\"}");
        assert_eq!(f("$[\"id\"]"), "7");
        assert_eq!(
            json(&f("$['id','features']")),
            json!({"id": 7, "features": [1, 2, 3, 4]})
        );
        assert_eq!(filter("not json", "image/png", "$"), "not json");
    }

    #[test]
    fn unsupported_or_unmatched_filters_are_rejected() {
        for f in ["$..a", "$[*]", "$.*", "features", "$[1:2:1]", "$[0", "$?x"] {
            let err = apply_filter(b"[1,2]", "application/json", f).unwrap_err();
            assert!(err.contains(f) || err.contains(".."), "{f}: {err}");
        }
        for f in ["$[5]", "$.x", "$['x']"] {
            assert!(
                apply_filter(b"[1,2]", "application/json", f).is_err(),
                "{f}"
            );
        }
    }
}
