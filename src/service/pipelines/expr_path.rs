//! Property paths (`ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri`,
//! `TrainingJobSummaries[0]`, `HyperParameters['max_depth']`) and JsonGet paths
//! (`metrics.accuracy.value`, `a.b[0].c`), and how they walk a JSON value.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSegment {
    /// `.Name`: an object's member.
    Member(String),
    /// `[3]`: a list's element.
    Index(usize),
    /// `['name']` or `["name"]`: a map's key, or the element of a list whose identifying
    /// member (OutputName, ChannelName, Name…) is `name`.
    Key(String),
}

/// The members that identify an element of a list, in the order they are tried; failing
/// those, any member whose name ends in `Name`.
const IDENTIFYING_MEMBERS: &[&str] = &[
    "OutputName",
    "InputName",
    "ChannelName",
    "VariantName",
    "MetricName",
    "Name",
    "Key",
];

/// Splits a path into segments. Quoted keys may hold any character but their own quote.
pub fn parse_path(text: &str) -> Result<Vec<PathSegment>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            // A dot separates segments, so a member must follow it.
            '.' if !out.is_empty() && !matches!(chars.get(i + 1), None | Some('.' | '[')) => i += 1,
            '[' => {
                let (segment, next) = bracket(&chars, i, text)?;
                out.push(segment);
                i = next;
            }
            _ => {
                if !out.is_empty() && chars[i - 1] != '.' {
                    return Err(format!("'{text}' is not a valid property path"));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let member: String = chars[start..i].iter().collect();
                if member.is_empty() || member.contains([']', '\'', '"']) {
                    return Err(format!("'{text}' is not a valid property path"));
                }
                out.push(PathSegment::Member(member));
            }
        }
    }
    Ok(out)
}

/// The `[...]` starting at `chars[i]`: the segment and the index after its `]`.
fn bracket(chars: &[char], i: usize, text: &str) -> Result<(PathSegment, usize), String> {
    let invalid = || format!("'{text}' is not a valid property path");
    let Some(&first) = chars.get(i + 1) else {
        return Err(invalid());
    };
    if first == '\'' || first == '"' {
        let close = chars[i + 2..]
            .iter()
            .position(|c| *c == first)
            .ok_or_else(invalid)?
            + i
            + 2;
        if chars.get(close + 1) != Some(&']') {
            return Err(invalid());
        }
        let key: String = chars[i + 2..close].iter().collect();
        return Ok((PathSegment::Key(key), close + 2));
    }
    let close = chars[i + 1..]
        .iter()
        .position(|c| *c == ']')
        .ok_or_else(invalid)?
        + i
        + 1;
    let digits: String = chars[i + 1..close].iter().collect();
    let index = digits.trim().parse::<usize>().map_err(|_| invalid())?;
    Ok((PathSegment::Index(index), close + 1))
}

/// The value at `path` inside `v`, if there is one.
pub fn navigate<'v>(v: &'v Value, path: &[PathSegment]) -> Option<&'v Value> {
    path.iter().try_fold(v, |at, segment| match (segment, at) {
        (PathSegment::Member(m), Value::Object(obj)) => obj.get(m),
        (PathSegment::Key(k), Value::Object(obj)) => obj.get(k),
        (PathSegment::Index(i), Value::Array(items)) => items.get(*i),
        (PathSegment::Key(k), Value::Array(items)) => element_named(items, k),
        _ => None,
    })
}

/// The element of `items` whose identifying member is `name`.
fn element_named<'v>(items: &'v [Value], name: &str) -> Option<&'v Value> {
    let is = |v: Option<&Value>| v.and_then(Value::as_str) == Some(name);
    for member in IDENTIFYING_MEMBERS {
        if let Some(found) = items.iter().find(|item| is(item.get(*member))) {
            return Some(found);
        }
    }
    items.iter().find(|item| {
        item.as_object().is_some_and(|obj| {
            obj.iter()
                .any(|(k, v)| k.ends_with("Name") && v.as_str() == Some(name))
        })
    })
}
