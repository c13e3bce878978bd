//! CloudWatch's query protocol: form parameters (`MetricData.member.1.Dimensions.member.2.Name`)
//! read into the same JSON members awsJson carries, guided by the model's input shapes, and
//! output members written as the XML the query protocol answers with (lists as `<member>`
//! elements, maps as `<entry><key/><value/></entry>`, timestamps as ISO 8601).

use serde_json::{Map, Value};

use crate::aws::model::{Model, ShapeKind};
use crate::aws::xml::escape;

/// The form parameters of a request, query string first, then the body.
pub struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    pub fn parse(query: Option<&str>, body: &[u8]) -> Form {
        let mut params: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        params.extend(form_urlencoded::parse(body).into_owned());
        Form { params }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any parameter is `prefix` itself or lies under `prefix.`.
    fn has(&self, prefix: &str) -> bool {
        self.params.iter().any(|(k, _)| {
            k == prefix || (k.starts_with(prefix) && k.as_bytes().get(prefix.len()) == Some(&b'.'))
        })
    }

    /// The operation's input members, read by walking the input shape.
    pub fn members(&self, model: &Model, shape: &str) -> Map<String, Value> {
        match self.structure(model, shape, "") {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn structure(&self, model: &Model, shape: &str, prefix: &str) -> Value {
        let mut out = Map::new();
        if let Some(ShapeKind::Structure { members, .. }) = model.shape(shape).map(|s| &s.kind) {
            for m in *members {
                let key = if prefix.is_empty() {
                    m.name.to_string()
                } else {
                    format!("{prefix}.{}", m.name)
                };
                if let Some(v) = self.value(model, m.target, &key) {
                    out.insert(m.name.to_string(), v);
                }
            }
        }
        Value::Object(out)
    }

    fn value(&self, model: &Model, shape: &str, key: &str) -> Option<Value> {
        if !self.has(key) {
            return None;
        }
        let kind = &model.shape(shape)?.kind;
        Some(match kind {
            ShapeKind::Structure { .. } => self.structure(model, shape, key),
            ShapeKind::List { member, .. } => {
                let mut items = Vec::new();
                for n in 1.. {
                    match self.value(model, member, &format!("{key}.member.{n}")) {
                        Some(v) => items.push(v),
                        None => break,
                    }
                }
                Value::Array(items)
            }
            ShapeKind::Map { value, .. } => {
                let mut entries = Map::new();
                for n in 1.. {
                    let entry = format!("{key}.entry.{n}");
                    let Some(k) = self.get(&format!("{entry}.key")) else {
                        break;
                    };
                    let v = self
                        .value(model, value, &format!("{entry}.value"))
                        .unwrap_or(Value::Null);
                    entries.insert(k.to_string(), v);
                }
                Value::Object(entries)
            }
            scalar => scalar_value(scalar, self.get(key).unwrap_or_default()),
        })
    }
}

/// A scalar parameter as the JSON the validator expects; text that is not the shape's type is
/// passed on as text for the validator to refuse.
fn scalar_value(kind: &ShapeKind, text: &str) -> Value {
    let parsed = match kind {
        ShapeKind::Integer { .. } | ShapeKind::Long { .. } => {
            text.parse::<i64>().ok().map(Value::from)
        }
        ShapeKind::Float { .. } | ShapeKind::Double { .. } => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        ShapeKind::Boolean => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

/// Output members as query-protocol XML elements.
pub fn to_xml(members: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (name, v) in members {
        element(&mut out, name, v, is_timestamp(name));
    }
    out
}

fn is_timestamp(name: &str) -> bool {
    name == "Timestamp" || name == "Timestamps"
}

/// Map members among CloudWatch's outputs (string keys to values).
fn is_map(name: &str) -> bool {
    name == "ExtendedStatistics"
}

fn element(out: &mut String, name: &str, v: &Value, timestamp: bool) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match v {
        Value::Array(items) => {
            for item in items {
                element(out, "member", item, timestamp);
            }
        }
        Value::Object(map) if is_map(name) => {
            for (k, item) in map {
                out.push_str("<entry><key>");
                out.push_str(&escape(k));
                out.push_str("</key>");
                element(out, "value", item, false);
                out.push_str("</entry>");
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                element(out, k, item, is_timestamp(k));
            }
        }
        Value::Number(n) if timestamp => {
            out.push_str(&crate::aws::time::iso8601(n.as_f64().unwrap_or_default()));
        }
        Value::String(s) => out.push_str(&escape(s)),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::cloudwatch::MODEL;
    use serde_json::json;

    #[test]
    fn form_parameters_become_the_json_members() {
        let body = b"Action=PutMetricData&Version=2010-08-01&Namespace=ns\
            &MetricData.member.1.MetricName=m&MetricData.member.1.Value=1.5\
            &MetricData.member.1.Dimensions.member.1.Name=A&MetricData.member.1.Dimensions.member.1.Value=x\
            &MetricData.member.1.Timestamp=2026-12-05T00%3A00%3A00Z\
            &MetricData.member.2.MetricName=n&MetricData.member.2.Values.member.1=2\
            &MetricData.member.2.Counts.member.1=3&MetricData.member.2.StorageResolution=1";
        let form = Form::parse(None, body);
        assert_eq!(form.get("Action"), Some("PutMetricData"));
        let members = form.members(&MODEL, "PutMetricDataInput");
        assert_eq!(
            Value::Object(members),
            json!({"Namespace": "ns", "MetricData": [
                {"MetricName": "m", "Value": 1.5, "Timestamp": "2026-12-05T00:00:00Z",
                 "Dimensions": [{"Name": "A", "Value": "x"}]},
                {"MetricName": "n", "Values": [2.0], "Counts": [3.0], "StorageResolution": 1}]})
        );
    }

    #[test]
    fn outputs_render_lists_maps_and_timestamps() {
        let out = json!({"Datapoints": [{"Timestamp": 0, "Sum": 2.5,
            "ExtendedStatistics": {"p50": 1.0}}], "Label": "a&b"});
        let xml = to_xml(out.as_object().unwrap());
        assert!(xml.contains("<Label>a&amp;b</Label>"), "{xml}");
        assert!(xml.contains("<Datapoints><member>"), "{xml}");
        assert!(xml.contains("<Timestamp>1970-01-01T00:00:00"), "{xml}");
        assert!(xml.contains("<ExtendedStatistics><entry><key>p50</key><value>1.0</value></entry></ExtendedStatistics>"), "{xml}");
    }
}
