//! ListObjects / ListObjectsV2: keys in byte order after a marker, rolled up into common
//! prefixes at the first delimiter after the prefix, as S3 does.

use crate::store::Store;
use crate::store::objects::ObjectRow;

use super::ObjectResult;

pub struct ListRequest {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive: listing starts after this key (marker, start-after or a continuation).
    pub after: String,
    pub max_keys: usize,
}

#[derive(Default)]
pub struct Listing {
    pub objects: Vec<ObjectRow>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned: where the next page starts.
    pub last: Option<String>,
}

/// Rows fetched from the store per round trip.
const BATCH: usize = 1000;

pub async fn list(store: &Store, req: &ListRequest) -> ObjectResult<Listing> {
    let mut out = Listing::default();
    if req.max_keys == 0 {
        return Ok(out);
    }
    let mut cursor = req.after.clone();
    let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
    'outer: loop {
        let rows = store
            .list_objects(&req.bucket, &req.prefix, &cursor, BATCH)
            .await?;
        let exhausted = rows.len() < BATCH;
        for row in rows {
            let entries = out.objects.len() + out.common_prefixes.len();
            if entries == req.max_keys {
                out.is_truncated = true;
                break 'outer;
            }
            let rest = &row.key[req.prefix.len()..];
            if let Some(d) = delimiter
                && let Some(i) = rest.find(d)
            {
                let cp = row.key[..req.prefix.len() + i + d.len()].to_string();
                // Skip every other key under this prefix in one jump.
                cursor = format!("{cp}\u{10FFFF}\u{10FFFF}");
                // A prefix at or before the marker was returned by an earlier page.
                if cp.as_str() <= req.after.as_str() {
                    continue 'outer;
                }
                out.last = Some(cp.clone());
                out.common_prefixes.push(cp);
                continue 'outer;
            }
            cursor = row.key.clone();
            out.last = Some(row.key.clone());
            out.objects.push(row);
        }
        if exhausted {
            break;
        }
    }
    Ok(out)
}
