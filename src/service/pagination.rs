//! Opaque pagination tokens. A token records where the previous page stopped (the sort value and
//! name of its last item), so pages stay consistent while resources are added or removed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{ServiceError, ServiceResult};
use crate::store::resources::Cursor;

pub fn encode(cursor: &Cursor) -> String {
    let raw = match cursor {
        Cursor::Name(n) => format!("n\n{n}"),
        Cursor::Created(t, n) => format!("c\n{t}\n{n}"),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode(token: &str) -> ServiceResult<Cursor> {
    let invalid = || ServiceError::Validation(format!("Invalid pagination token: \"{token}\"."));
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    match raw.split_once('\n') {
        Some(("n", name)) => Ok(Cursor::Name(name.to_string())),
        Some(("c", rest)) => {
            let (t, name) = rest.split_once('\n').ok_or_else(invalid)?;
            Ok(Cursor::Created(
                t.parse().map_err(|_| invalid())?,
                name.to_string(),
            ))
        }
        _ => Err(invalid()),
    }
}

/// Opaque numeric offsets, for collections without a natural key (tags, log streams).
pub fn encode_offset(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o\n{offset}"))
}

pub fn decode_offset(token: &str) -> ServiceResult<usize> {
    let invalid = || ServiceError::Validation(format!("Invalid pagination token: \"{token}\"."));
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.strip_prefix("o\n"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)
}

/// One page of `items` from the offset a NextToken carries (the start without one): at most
/// `max` items, and the next page's token while any remain. An offset past the end is an empty
/// last page.
pub fn offset_page<T>(
    items: Vec<T>,
    next_token: Option<&str>,
    max: usize,
) -> ServiceResult<super::resources::Page<T>> {
    let total = items.len();
    let start = next_token
        .map(decode_offset)
        .transpose()?
        .unwrap_or(0)
        .min(total);
    let end = start.saturating_add(max).min(total);
    let next_token = (end < total).then(|| encode_offset(end));
    let items = items.into_iter().skip(start).take(end - start).collect();
    Ok(super::resources::Page { items, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        for c in [
            Cursor::Name("a\nb".into()),
            Cursor::Created(1.5, "x".into()),
        ] {
            assert_eq!(decode(&encode(&c)).unwrap(), c);
        }
        assert_eq!(decode_offset(&encode_offset(42)).unwrap(), 42);
        let first = offset_page(vec![1, 2, 3], None, 2).unwrap();
        assert_eq!(first.items, [1, 2]);
        let rest = offset_page(vec![1, 2, 3], first.next_token.as_deref(), 2).unwrap();
        assert_eq!((rest.items, rest.next_token), (vec![3], None));
        assert!(decode("!!!").is_err());
        assert!(decode_offset(&encode(&Cursor::Name("n".into()))).is_err());
    }
}
