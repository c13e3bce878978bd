//! Clock helpers: epoch seconds (awsJson timestamps), epoch milliseconds (CloudWatch Logs) and
//! ISO 8601 (query-protocol XML).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, with millisecond precision as AWS reports it.
/// An awsJson timestamp member's value: epoch seconds as a number (what the SDKs send) or a
/// string holding epoch seconds or an ISO 8601 date.
pub fn timestamp_member(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => parse_timestamp(s),
        _ => None,
    }
}

pub fn now_epoch() -> f64 {
    (now_millis() as f64) / 1000.0
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-24T19:00:42Z` for epoch seconds.
pub fn iso8601(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A timestamp sent as a JSON string: epoch seconds, or ISO 8601.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    s.parse::<f64>()
        .ok()
        .filter(|t| t.is_finite())
        .or_else(|| parse_iso8601(s))
}

/// `2026-11-24T19:00:42Z` / `2026-11-24T19:00:42.5+00:00` → epoch seconds (UTC offsets honoured).
pub fn parse_iso8601(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (time, offset) = match rest.find(['Z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "Z"),
    };
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next().unwrap_or("0").parse().ok()?;
    let off = match offset {
        "Z" | "" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 - off) as f64 + ss)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_iso8601() {
        assert_eq!(super::iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_795_978_842.5), "2026-11-29T19:00:42Z");
        assert_eq!(super::iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
    }
}
