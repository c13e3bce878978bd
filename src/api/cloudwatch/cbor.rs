//! The CBOR (RFC 8949) subset Smithy RPC v2 uses, to and from `serde_json::Value`: integers,
//! floats (half, single, double), text and byte strings, arrays and maps (definite or
//! indefinite length), true/false/null, and tag 1 (epoch-seconds timestamps), which decodes to
//! its number. Encoding writes definite lengths, floats as doubles, and the members named
//! `Timestamp` / `Timestamps` as tag 1, the only timestamp members CloudWatch's outputs have.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, pos: 0 };
    let v = r.item(0)?;
    if r.pos != bytes.len() {
        return Err(format!(
            "{} bytes follow the CBOR data item",
            bytes.len() - r.pos
        ));
    }
    Ok(v)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// What a data item's head says.
enum Head {
    Item(Value),
    Break,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or("the CBOR data ends early")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn uint(&mut self, info: u8) -> Result<u64, String> {
        Ok(match info {
            0..=23 => info as u64,
            24 => self.take(1)?[0] as u64,
            25 => u16::from_be_bytes(self.take(2)?.try_into().map_err(|_| "short")?) as u64,
            26 => u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "short")?) as u64,
            27 => u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| "short")?),
            _ => return Err(format!("unsupported CBOR additional information {info}")),
        })
    }

    fn item(&mut self, depth: usize) -> Result<Value, String> {
        match self.head(depth)? {
            Head::Item(v) => Ok(v),
            Head::Break => Err("unexpected CBOR break".into()),
        }
    }

    fn head(&mut self, depth: usize) -> Result<Head, String> {
        if depth > MAX_DEPTH {
            return Err("CBOR nesting is too deep".into());
        }
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        if initial == 0xff {
            return Ok(Head::Break);
        }
        let v = match major {
            0 => Value::from(self.uint(info)?),
            1 => {
                let n = self.uint(info)?;
                match i64::try_from(n) {
                    Ok(n) => Value::from(-1 - n),
                    Err(_) => float(-1.0 - n as f64),
                }
            }
            2 | 3 => {
                let raw = self.string(major, info)?;
                if major == 3 {
                    Value::String(
                        String::from_utf8(raw).map_err(|_| "a CBOR text string is not UTF-8")?,
                    )
                } else {
                    use base64::Engine;
                    Value::String(base64::engine::general_purpose::STANDARD.encode(raw))
                }
            }
            4 => Value::Array(self.array(info, depth)?),
            5 => Value::Object(self.map(info, depth)?),
            // Tag 1 is a timestamp; its number is what the model validator and decoder read.
            6 => {
                let tag = self.uint(info)?;
                let inner = self.item(depth + 1)?;
                if tag != 1 {
                    return Err(format!("unsupported CBOR tag {tag}"));
                }
                inner
            }
            _ => self.simple(info)?,
        };
        Ok(Head::Item(v))
    }

    fn string(&mut self, major: u8, info: u8) -> Result<Vec<u8>, String> {
        if info != 31 {
            let n = self.uint(info)? as usize;
            return Ok(self.take(n)?.to_vec());
        }
        let mut out = Vec::new();
        loop {
            let initial = self.take(1)?[0];
            if initial == 0xff {
                return Ok(out);
            }
            if initial >> 5 != major || initial & 0x1f == 31 {
                return Err("a CBOR string chunk has the wrong type".into());
            }
            out.extend(self.string(major, initial & 0x1f)?);
        }
    }

    fn array(&mut self, info: u8, depth: usize) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        if info == 31 {
            loop {
                match self.head(depth + 1)? {
                    Head::Item(v) => out.push(v),
                    Head::Break => return Ok(out),
                }
            }
        }
        let n = self.uint(info)?;
        for _ in 0..n {
            out.push(self.item(depth + 1)?);
        }
        Ok(out)
    }

    fn map(&mut self, info: u8, depth: usize) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        let count = if info == 31 {
            None
        } else {
            Some(self.uint(info)?)
        };
        let mut i = 0;
        loop {
            if count.is_some_and(|n| i >= n) {
                return Ok(out);
            }
            let key = match self.head(depth + 1)? {
                Head::Break if count.is_none() => return Ok(out),
                Head::Break => return Err("unexpected CBOR break".into()),
                Head::Item(Value::String(k)) => k,
                Head::Item(_) => return Err("a CBOR map key is not a text string".into()),
            };
            let value = self.item(depth + 1)?;
            // CBOR null members are absent members, as in the Smithy protocol.
            if !value.is_null() {
                out.insert(key, value);
            }
            i += 1;
        }
    }

    fn simple(&mut self, info: u8) -> Result<Value, String> {
        Ok(match info {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            22 | 23 => Value::Null,
            25 => {
                let bits = u16::from_be_bytes(self.take(2)?.try_into().map_err(|_| "short")?);
                float(half(bits))
            }
            26 => {
                let bits = u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "short")?);
                float(f32::from_bits(bits) as f64)
            }
            27 => {
                let bits = u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| "short")?);
                float(f64::from_bits(bits))
            }
            _ => return Err(format!("unsupported CBOR simple value {info}")),
        })
    }
}

/// A float as JSON; NaN and infinities (which JSON cannot hold) become a string the validator
/// refuses as not a number.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

fn half(bits: u16) -> f64 {
    let exp = (bits >> 10) & 0x1f;
    let mant = (bits & 0x3ff) as f64;
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(exp as i32 - 25),
    };
    if bits & 0x8000 != 0 { -v } else { v }
}

pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, v, false);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

fn write(out: &mut Vec<u8>, v: &Value, timestamp: bool) {
    if timestamp && v.is_number() {
        head(out, 6, 1);
    }
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                head(out, 0, u);
            } else if let Some(i) = n.as_i64() {
                head(out, 1, (-1 - i) as u64);
            } else {
                out.push(0xfb);
                out.extend(n.as_f64().unwrap_or_default().to_bits().to_be_bytes());
            }
        }
        Value::String(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item, timestamp);
            }
        }
        Value::Object(map) => {
            head(out, 5, map.len() as u64);
            for (k, item) in map {
                head(out, 3, k.len() as u64);
                out.extend(k.as_bytes());
                write(out, item, k == "Timestamp" || k == "Timestamps");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_with_timestamps_tagged() {
        let v = json!({"Label": "m", "Datapoints": [{"Timestamp": 1795978800, "Sum": 2.5,
            "SampleCount": 3, "Neg": -7, "Ok": true}], "Timestamps": [1, 2]});
        let bytes = encode(&v);
        // tag 1 (0xc1) precedes each timestamp
        assert_eq!(bytes.iter().filter(|b| **b == 0xc1).count(), 3);
        assert_eq!(decode(&bytes).unwrap(), v);
    }

    #[test]
    fn indefinite_lengths_halfs_and_nulls_decode() {
        // {_ "a": [_ 1, 1.5 (half)], "b": null, "c": (_ "x" "y")}
        let bytes = [
            0xbf, 0x61, b'a', 0x9f, 0x01, 0xf9, 0x3e, 0x00, 0xff, 0x61, b'b', 0xf6, 0x61, b'c',
            0x7f, 0x61, b'x', 0x61, b'y', 0xff, 0xff,
        ];
        assert_eq!(decode(&bytes).unwrap(), json!({"a": [1, 1.5], "c": "xy"}));
        assert!(decode(&[0x82, 0x01]).is_err());
        assert!(decode(&[0x01, 0x02]).is_err());
    }
}
