//! Small objects' bytes kept in memory after they were read, so a GET of a hot small object
//! answers without a trip to the blocking pool. A blob never changes once referenced and its id
//! is never reused, so an entry cannot go stale: it only goes when its blob is deleted or when
//! newer entries push it out.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// Blobs up to this size are kept whole.
pub(super) const BODY_MAX: u64 = 64 << 10;
/// The most bytes kept in all; the oldest entries go first.
const BUDGET: usize = 32 << 20;

#[derive(Default)]
pub(super) struct BodyCache {
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_blob: HashMap<String, Bytes>,
    /// Ids in the order they were kept (an id whose entry went is skipped when it comes up).
    order: VecDeque<String>,
    bytes: usize,
}

impl BodyCache {
    pub(super) fn get(&self, blob: &str) -> Option<Bytes> {
        self.lock().by_blob.get(blob).cloned()
    }

    pub(super) fn keep(&self, blob: &str, body: Bytes) {
        let mut kept = self.lock();
        if body.len() as u64 > BODY_MAX || kept.by_blob.contains_key(blob) {
            return;
        }
        kept.bytes += body.len();
        kept.by_blob.insert(blob.to_string(), body);
        kept.order.push_back(blob.to_string());
        while kept.bytes > BUDGET {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(gone) = kept.by_blob.remove(&oldest) {
                kept.bytes -= gone.len();
            }
        }
        // Ids forgotten by `forget` stay in `order` until they come up; keep that bounded too.
        if kept.order.len() > 2 * kept.by_blob.len() + 64 {
            let Kept { by_blob, order, .. } = &mut *kept;
            order.retain(|id| by_blob.contains_key(id));
        }
    }

    pub(super) fn forget(&self, blob: &str) {
        let mut kept = self.lock();
        if let Some(gone) = kept.by_blob.remove(blob) {
            kept.bytes -= gone.len();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_small_bodies_within_the_budget_oldest_out_first() {
        let cache = BodyCache::default();
        let body = Bytes::from(vec![7u8; BODY_MAX as usize]);
        let n = BUDGET / BODY_MAX as usize;
        for i in 0..=n {
            cache.keep(&format!("b{i}"), body.clone());
        }
        assert!(cache.get("b0").is_none(), "the oldest went to make room");
        assert_eq!(cache.get(&format!("b{n}")), Some(body.clone()));
        assert!(cache.lock().bytes <= BUDGET);
        cache.forget(&format!("b{n}"));
        assert!(cache.get(&format!("b{n}")).is_none());
        cache.keep("big", Bytes::from(vec![0u8; BODY_MAX as usize + 1]));
        assert!(
            cache.get("big").is_none(),
            "larger bodies are read from their file"
        );
    }
}
