//! The Logs operations' pagination tokens. Clients treat them as opaque; each records where the
//! previous page stopped, so pages stay consistent while events and streams are added.
//!
//! GetLogEvents tokens look like AWS's (`f/<56 digits>/s`, `b/<56 digits>/s`): the direction,
//! then a boundary between events as the [`EventKey`] (timestamp, id) in two 28-digit halves. A
//! forward token reads the events after the boundary, a backward token the events before it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::service::{ServiceError, ServiceResult};
use crate::store::logs::{EventKey, StreamCursor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

fn invalid() -> ServiceError {
    ServiceError::InvalidParameter("The specified nextToken is invalid.".into())
}

/// The boundary before every event (ids start at 1, timestamps at 0).
pub const START: EventKey = EventKey {
    timestamp: 0,
    id: 0,
};

/// The boundary just after `key`: reading backward from it includes `key`'s event.
pub fn just_after(key: EventKey) -> EventKey {
    EventKey {
        timestamp: key.timestamp,
        id: key.id.saturating_add(1),
    }
}

/// The boundary just before `key`: reading forward from it includes `key`'s event. Ids are
/// never 0, so (t, 0) is already before every event at t.
pub fn just_before(key: EventKey) -> EventKey {
    EventKey {
        timestamp: key.timestamp,
        id: key.id.saturating_sub(1).max(0),
    }
}

pub fn event_token(direction: Direction, key: EventKey) -> String {
    let d = match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{d}/{:028}{:028}/s", key.timestamp.max(0), key.id.max(0))
}

pub fn parse_event_token(token: &str) -> ServiceResult<(Direction, EventKey)> {
    let (direction, rest) = match token.split_at_checked(2) {
        Some(("f/", rest)) => (Direction::Forward, rest),
        Some(("b/", rest)) => (Direction::Backward, rest),
        _ => return Err(invalid()),
    };
    let digits = rest.strip_suffix("/s").ok_or_else(invalid)?;
    if digits.len() != 56 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let (t, i) = digits.split_at(28);
    let timestamp = t.parse().map_err(|_| invalid())?;
    let id = i.parse().map_err(|_| invalid())?;
    Ok((direction, EventKey { timestamp, id }))
}

fn encode(raw: String) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(token: &str) -> ServiceResult<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    String::from_utf8(raw).map_err(|_| invalid())
}

/// FilterLogEvents: continue after this event.
pub fn filter_token(key: EventKey) -> String {
    encode(format!("e\n{}\n{}", key.timestamp, key.id))
}

pub fn parse_filter_token(token: &str) -> ServiceResult<EventKey> {
    let raw = decode(token)?;
    let mut parts = raw.strip_prefix("e\n").ok_or_else(invalid)?.splitn(2, '\n');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)
    };
    Ok(EventKey {
        timestamp: next()?,
        id: next()?,
    })
}

/// DescribeLogGroups: continue after this group name.
pub fn group_token(name: &str) -> String {
    encode(format!("g\n{name}"))
}

pub fn parse_group_token(token: &str) -> ServiceResult<String> {
    decode(token)?
        .strip_prefix("g\n")
        .map(str::to_string)
        .ok_or_else(invalid)
}

/// DescribeLogStreams: continue after this stream, in the order the token was made for.
pub fn stream_token(cursor: &StreamCursor) -> String {
    encode(match cursor {
        StreamCursor::Name(n) => format!("n\n{n}"),
        StreamCursor::LastEvent(t, n) => format!("t\n{t}\n{n}"),
    })
}

pub fn parse_stream_token(token: &str) -> ServiceResult<StreamCursor> {
    let raw = decode(token)?;
    match raw.split_once('\n') {
        Some(("n", name)) => Ok(StreamCursor::Name(name.to_string())),
        Some(("t", rest)) => {
            let (t, name) = rest.split_once('\n').ok_or_else(invalid)?;
            Ok(StreamCursor::LastEvent(
                t.parse().map_err(|_| invalid())?,
                name.to_string(),
            ))
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tokens_have_aws_shape_and_round_trip() {
        let key = EventKey {
            timestamp: 1_795_978_842_123,
            id: 42,
        };
        let t = event_token(Direction::Backward, key);
        assert_eq!(t.len(), 2 + 56 + 2);
        assert!(t.starts_with("b/0000") && t.ends_with("/s"));
        assert_eq!(parse_event_token(&t).unwrap(), (Direction::Backward, key));
        assert_eq!(
            event_token(Direction::Forward, START),
            format!("f/{}/s", "0".repeat(56))
        );
        for bad in [
            "",
            "f/",
            "x/1/s",
            "f/12/s",
            &t.replace('/', "-"),
            &format!("f/{}/s", "9".repeat(56)),
        ] {
            assert!(parse_event_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_tokens_round_trip_and_reject_each_other() {
        let key = EventKey {
            timestamp: 5,
            id: 9,
        };
        assert_eq!(parse_filter_token(&filter_token(key)).unwrap(), key);
        assert_eq!(parse_group_token(&group_token("/a/b")).unwrap(), "/a/b");
        for c in [
            StreamCursor::Name("x".into()),
            StreamCursor::LastEvent(-1, "y\nz".into()),
        ] {
            assert_eq!(parse_stream_token(&stream_token(&c)).unwrap(), c);
        }
        assert!(parse_group_token(&filter_token(key)).is_err());
        assert!(parse_filter_token("!!").is_err());
    }
}
