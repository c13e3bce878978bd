//! The data plane of a batch transform, with no I/O: split an input object into records
//! (SplitType), group records into request payloads (BatchStrategy, MaxPayloadInMB), put responses
//! back together (AssembleWith), and SageMaker's DataProcessing (InputFilter, JoinSource,
//! OutputFilter) on one record.
//!
//! CSV fields keep their exact text. AWS describes a CSV line as a JSON array whose numeric fields
//! are numbers, but a number never needs quoting, so keeping the text gives the same output without
//! rewriting `1.50` as `1.5` or rounding long integers.

use serde_json::{Map, Value};

/// How an input object is cut into records (`TransformInput.SplitType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitType {
    None,
    Line,
    RecordIO,
    TFRecord,
}

impl SplitType {
    /// Absent or unknown values mean `None`, as in SageMaker.
    pub fn parse(s: Option<&str>) -> SplitType {
        match s {
            Some("Line") => SplitType::Line,
            Some("RecordIO") => SplitType::RecordIO,
            Some("TFRecord") => SplitType::TFRecord,
            _ => SplitType::None,
        }
    }
}

/// How many records go into one request (`BatchStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStrategy {
    SingleRecord,
    MultiRecord,
}

impl BatchStrategy {
    pub fn parse(s: Option<&str>) -> BatchStrategy {
        match s {
            Some("MultiRecord") => BatchStrategy::MultiRecord,
            _ => BatchStrategy::SingleRecord,
        }
    }
}

/// How responses are joined into the output object (`TransformOutput.AssembleWith`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssembleWith {
    None,
    Line,
}

impl AssembleWith {
    pub fn parse(s: Option<&str>) -> AssembleWith {
        match s {
            Some("Line") => AssembleWith::Line,
            _ => AssembleWith::None,
        }
    }
}

const RECORDIO_MAGIC: u32 = 0xced7_230a;
const RECORDIO_LEN_MASK: u32 = (1 << 29) - 1;
const MIB: f64 = 1024.0 * 1024.0;

/// Splits one input object into records, borrowing from `data`.
///
/// - `None`: the whole object is one record.
/// - `Line`: one record per line; a final `\r` is stripped and empty lines are skipped.
/// - `RecordIO`: MXNet RecordIO. Each record is returned with its framing (magic, length word,
///   data, padding to 4 bytes) because containers expect `application/x-recordio-protobuf` frames;
///   a multi-part record (continuation flags 1, 2…, 3) comes back as one record.
/// - `TFRecord`: u64 length, masked CRC, data, masked CRC, returned framed; CRCs are not checked.
pub fn split(data: &[u8], split: SplitType) -> Result<Vec<&[u8]>, String> {
    match split {
        SplitType::None => Ok(vec![data]),
        SplitType::Line => Ok(data
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .collect()),
        SplitType::RecordIO => split_recordio(data),
        SplitType::TFRecord => split_tfrecord(data),
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn split_recordio(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    let mut multipart_start = None;
    let mut off = 0;
    while off < data.len() {
        let header = data.get(off..off + 8).ok_or_else(|| {
            format!(
                "RecordIO: truncated header at offset {off}: expected 8 bytes, found {}",
                data.len() - off
            )
        })?;
        let magic = le_u32(&header[..4]);
        if magic != RECORDIO_MAGIC {
            return Err(format!(
                "RecordIO: bad magic {magic:#010x} at offset {off}, expected {RECORDIO_MAGIC:#010x}"
            ));
        }
        let lrecord = le_u32(&header[4..]);
        let (cflag, len) = (lrecord >> 29, (lrecord & RECORDIO_LEN_MASK) as usize);
        if off + 8 + len > data.len() {
            return Err(format!(
                "RecordIO: record at offset {off} declares {len} data bytes but only {} remain",
                data.len() - off - 8
            ));
        }
        // Writers always pad, but a missing pad at the very end of the object loses nothing.
        let next = (off + 8 + len.next_multiple_of(4)).min(data.len());
        match (cflag, multipart_start) {
            (0, None) => records.push(&data[off..next]),
            (1, None) => multipart_start = Some(off),
            (2, Some(_)) => {}
            (3, Some(start)) => {
                records.push(&data[start..next]);
                multipart_start = None;
            }
            (flag, open) => {
                let place = if open.is_some() { "inside" } else { "outside" };
                return Err(format!(
                    "RecordIO: unexpected continuation flag {flag} at offset {off} {place} a multi-part record"
                ));
            }
        }
        off = next;
    }
    match multipart_start {
        Some(start) => Err(format!(
            "RecordIO: multi-part record starting at offset {start} has no final part (flag 3)"
        )),
        None => Ok(records),
    }
}

fn split_tfrecord(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let header = data.get(off..off + 12).ok_or_else(|| {
            format!(
                "TFRecord: truncated header at offset {off}: expected 12 bytes, found {}",
                data.len() - off
            )
        })?;
        let mut len = [0; 8];
        len.copy_from_slice(&header[..8]);
        let len = u64::from_le_bytes(len);
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(off + 16))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                format!(
                    "TFRecord: record at offset {off} declares {len} data bytes (plus 16 of framing) but only {} remain",
                    data.len() - off
                )
            })?;
        records.push(&data[off..end]);
        off = end;
    }
    Ok(records)
}

/// One request payload: records `first .. first + count` of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub first: usize,
    pub count: usize,
    pub payload: Vec<u8>,
}

/// Groups records into request payloads. `SingleRecord` sends one record per request;
/// `MultiRecord` packs consecutive records while the payload stays within `max_payload` bytes
/// (0 means no limit). `Line` records are each followed by `\n`; other records are concatenated.
pub fn batches(
    records: &[&[u8]],
    split: SplitType,
    strategy: BatchStrategy,
    max_payload: usize,
) -> Result<Vec<Batch>, String> {
    let newline: &[u8] = if split == SplitType::Line { b"\n" } else { b"" };
    let mut out: Vec<Batch> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let cost = record.len() + newline.len();
        if max_payload > 0 && cost > max_payload {
            return Err(format!(
                "record {} is {cost} bytes, more than MaxPayloadInMB ({} MB) allows; \
                 raise MaxPayloadInMB or split the input into smaller records",
                i + 1,
                max_payload as f64 / MIB
            ));
        }
        if strategy == BatchStrategy::MultiRecord
            && let Some(batch) = out.last_mut()
            && (max_payload == 0 || batch.payload.len() + cost <= max_payload)
        {
            batch.count += 1;
            batch.payload.extend_from_slice(record);
            batch.payload.extend_from_slice(newline);
            continue;
        }
        out.push(Batch {
            first: i,
            count: 1,
            payload: [*record, newline].concat(),
        });
    }
    Ok(out)
}

/// Joins the responses for one object's batches into its output object. `Line` ends each
/// non-empty response with `\n` unless it already has one; `None` concatenates them as is.
pub fn assemble(responses: &[Vec<u8>], with: AssembleWith) -> Vec<u8> {
    let mut out = Vec::with_capacity(responses.iter().map(|r| r.len() + 1).sum());
    for response in responses {
        out.extend_from_slice(response);
        if with == AssembleWith::Line && !response.is_empty() && !response.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Splits the response to a `MultiRecord` `Line` batch into one output per record, so that each
/// can be joined with its input. A trailing newline does not make an extra (empty) output.
pub fn split_response_lines(response: &[u8], expected: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut lines: Vec<Vec<u8>> = response
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if lines.len() != expected {
        return Err(format!(
            "the response holds {} lines but the batch sent {expected} records; \
             with JoinSource Input and MultiRecord the model must answer one line per record",
            lines.len()
        ));
    }
    Ok(lines)
}

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

    fn recordio(cflag: u32, data: &[u8]) -> Vec<u8> {
        let mut f = RECORDIO_MAGIC.to_le_bytes().to_vec();
        f.extend((cflag << 29 | data.len() as u32).to_le_bytes());
        f.extend(data);
        f.resize(f.len().next_multiple_of(4), 0);
        f
    }

    fn tfrecord(data: &[u8]) -> Vec<u8> {
        [
            &(data.len() as u64).to_le_bytes()[..],
            &[0; 4],
            data,
            &[0; 4],
        ]
        .concat()
    }

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
    fn parse_defaults_match_sagemaker() {
        assert_eq!(SplitType::parse(None), SplitType::None);
        assert_eq!(SplitType::parse(Some("TFRecord")), SplitType::TFRecord);
        assert_eq!(BatchStrategy::parse(None), BatchStrategy::SingleRecord);
        assert_eq!(
            BatchStrategy::parse(Some("MultiRecord")),
            BatchStrategy::MultiRecord
        );
        assert_eq!(AssembleWith::parse(Some("Line")), AssembleWith::Line);
    }

    #[test]
    fn line_split_strips_cr_and_skips_empty_lines() {
        let recs = split(b"a,1\r\n\nb,2\n\r\nc,3\n", SplitType::Line).unwrap();
        assert_eq!(recs, [&b"a,1"[..], b"b,2", b"c,3"]);
        assert_eq!(
            split(b"whole\nobject", SplitType::None).unwrap(),
            [b"whole\nobject"]
        );
    }

    #[test]
    fn recordio_split_round_trips_framed_records_and_keeps_multipart_together() {
        let (a, b) = (recordio(0, b"hello"), recordio(0, b"four"));
        let multi = [recordio(1, b"x"), recordio(2, b"yy"), recordio(3, b"zzz")].concat();
        let data = [a.clone(), multi.clone(), b.clone()].concat();
        let recs = split(&data, SplitType::RecordIO).unwrap();
        assert_eq!(recs, [&a[..], &multi[..], &b[..]]);
        let batch = batches(&recs, SplitType::RecordIO, BatchStrategy::MultiRecord, 0).unwrap();
        assert_eq!(batch[0].payload, data);
    }

    #[test]
    fn malformed_recordio_is_rejected_with_offsets() {
        let good = recordio(0, b"ok");
        let bad_magic = [&good[..], &[1, 2, 3, 4, 5, 6, 7, 8]].concat();
        let cases: [(&[u8], &str); 5] = [
            (&bad_magic, "bad magic 0x04030201 at offset 12"),
            (&good[..9], "offset 0 declares 2 data bytes"),
            (&good[..5], "truncated header at offset 0"),
            (&recordio(1, b"a"), "no final part"),
            (&recordio(3, b"a"), "flag 3 at offset 0 outside"),
        ];
        for (data, want) in cases {
            let err = split(data, SplitType::RecordIO).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn tfrecord_split_returns_framed_records_and_rejects_truncation() {
        let (a, b) = (tfrecord(b"abc"), tfrecord(b""));
        let data = [a.clone(), b.clone()].concat();
        assert_eq!(split(&data, SplitType::TFRecord).unwrap(), [&a[..], &b[..]]);
        let err = split(&data[..10], SplitType::TFRecord).unwrap_err();
        assert!(err.contains("truncated header"), "{err}");
        let err = split(&a[..a.len() - 1], SplitType::TFRecord).unwrap_err();
        assert!(err.contains("declares 3 data bytes"), "{err}");
    }

    #[test]
    fn batches_respect_strategy_and_max_payload() {
        let recs: Vec<&[u8]> = vec![b"aaa", b"bbb", b"ccc", b"d"];
        let single = batches(&recs, SplitType::Line, BatchStrategy::SingleRecord, 100).unwrap();
        assert_eq!(
            single[1],
            Batch {
                first: 1,
                count: 1,
                payload: b"bbb\n".to_vec()
            }
        );
        // A line costs its length plus a newline: two fit in 9 bytes, a third does not.
        let multi = batches(&recs, SplitType::Line, BatchStrategy::MultiRecord, 9).unwrap();
        let want = [(0, 2, &b"aaa\nbbb\n"[..]), (2, 2, b"ccc\nd\n")];
        let got: Vec<_> = multi
            .iter()
            .map(|b| (b.first, b.count, &b.payload[..]))
            .collect();
        assert_eq!(got, want);
        let raw = batches(&recs, SplitType::None, BatchStrategy::MultiRecord, 6).unwrap();
        assert_eq!((raw.len(), &raw[0].payload[..]), (2, &b"aaabbb"[..]));
        let unlimited = batches(&recs, SplitType::Line, BatchStrategy::MultiRecord, 0).unwrap();
        assert_eq!((unlimited.len(), unlimited[0].count), (1, 4));
    }

    #[test]
    fn record_larger_than_max_payload_is_an_error() {
        let big = vec![b'x'; 2 * 1024 * 1024];
        let recs: Vec<&[u8]> = vec![b"small", &big];
        let err = batches(&recs, SplitType::None, BatchStrategy::SingleRecord, 1 << 20);
        let err = err.unwrap_err();
        assert!(
            err.contains("record 2 is 2097152 bytes") && err.contains("(1 MB)"),
            "{err}"
        );
    }

    #[test]
    fn assemble_line_adds_newlines_only_where_missing() {
        let responses = [b"a\n".to_vec(), b"b".to_vec(), Vec::new(), b"c\nd".to_vec()];
        assert_eq!(assemble(&responses, AssembleWith::Line), b"a\nb\nc\nd\n");
        assert_eq!(assemble(&responses, AssembleWith::None), b"a\nbc\nd");
    }

    #[test]
    fn split_response_lines_matches_records_or_reports_both_counts() {
        let lines = split_response_lines(b"0.1\r\n0.2\n", 2).unwrap();
        assert_eq!(lines, [b"0.1", b"0.2"]);
        let err = split_response_lines(b"0.1\n0.2\n0.3", 2).unwrap_err();
        assert!(
            err.contains("3 lines") && err.contains("2 records"),
            "{err}"
        );
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
