//! Picking a container's output back up where the log stream left off, when sagebox re-adopts a
//! container after a restart: the lines printed while it was down are read again from Docker and
//! stored once, with nothing already stored repeated.
//!
//! Docker's `since` counts whole seconds, and several lines can share a timestamp (the stream
//! keeps milliseconds), so the replay starts at the second of the stream's last event and drops
//! the lines the stream already holds from that second on, each as many times as it holds it.
//! What was stored is a prefix of the container's output (batches are appended in order), so a
//! replayed line matching a stored one is that very line.

use std::collections::HashMap;

use super::super::{ServiceResult, Services};
use crate::store::logs::{self as store_logs, EventBound, EventKey, EventQuery};

/// Where to ask Docker to resume, and which of the replayed lines to drop.
#[derive(Debug, Default)]
pub struct Resume {
    /// Docker's `since`, in epoch seconds; 0 replays everything.
    pub since: i64,
    /// The stream's events from `since` on: (timestamp ms, message) and how many times each.
    stored: HashMap<(i64, String), usize>,
}

impl Resume {
    /// Whether a replayed line is already in the stream (each stored event drops one line).
    pub fn already_stored(&mut self, timestamp_ms: i64, text: &str) -> bool {
        if self.stored.is_empty() {
            return false;
        }
        let key = (timestamp_ms, text.to_string());
        match self.stored.get_mut(&key) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.stored.remove(&key);
                }
                true
            }
            None => false,
        }
    }
}

/// How many events one trip to the store reads when the whole stream is walked.
const PAGE: usize = 10_000;

impl Services {
    /// Where a container whose output goes to `streams` of `group` resumes: the second of the
    /// last event any of them holds (all of its output when they hold nothing yet).
    pub async fn log_resume(&self, group: &str, streams: &[String]) -> ServiceResult<Resume> {
        let (group, streams) = (group.to_string(), streams.to_vec());
        let events = self
            .store
            .call(move |c| {
                let mut last = None;
                for name in &streams {
                    if let Some(s) = store_logs::stream(c, &group, name)? {
                        last = last.max(s.last_event);
                    }
                }
                let Some(last) = last else {
                    return Ok(None);
                };
                let since = last.div_euclid(1000);
                let q = EventQuery {
                    start: Some(since * 1000),
                    end: None,
                    bound: EventBound::Head,
                    limit: i64::MAX as usize,
                };
                let mut events = Vec::new();
                for name in &streams {
                    events.extend(
                        store_logs::stream_events(c, &group, name, &q)?.unwrap_or_default(),
                    );
                }
                Ok(Some((since, events)))
            })
            .await?;
        let Some((since, events)) = events else {
            return Ok(Resume::default());
        };
        let mut stored = HashMap::new();
        for e in events {
            *stored.entry((e.timestamp, e.message)).or_insert(0) += 1;
        }
        Ok(Resume { since, stored })
    }

    /// [`Services::log_resume`], or, when the store cannot say, from now (lines printed while
    /// sagebox was down are then missing, which the warning says).
    pub async fn log_resume_or_now(&self, group: &str, streams: &[String]) -> Resume {
        match self.log_resume(group, streams).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "log streams {streams:?} of {group}: cannot find where they left off ({e}); they continue from now"
                );
                Resume {
                    since: crate::aws::time::now_epoch() as i64,
                    stored: HashMap::new(),
                }
            }
        }
    }

    /// Calls `f` with every event of a stream, oldest first (a supervisor rebuilding what it
    /// derives from its container's output, such as metrics).
    pub async fn for_each_log_event(
        &self,
        group: &str,
        stream: &str,
        mut f: impl FnMut(i64, &str),
    ) -> ServiceResult<()> {
        let mut bound = EventBound::Head;
        loop {
            let (g, s, b) = (group.to_string(), stream.to_string(), bound);
            let q = EventQuery {
                start: None,
                end: None,
                bound: b,
                limit: PAGE,
            };
            let page = self
                .store
                .call(move |c| store_logs::stream_events(c, &g, &s, &q))
                .await?
                .unwrap_or_default();
            for e in &page {
                f(e.timestamp, &e.message);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    bound = EventBound::After(EventKey {
                        timestamp: last.timestamp,
                        id: last.id,
                    })
                }
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stored_event_drops_one_replayed_line() {
        let mut r = Resume {
            since: 5,
            stored: HashMap::from([
                ((5_001, "same".to_string()), 2),
                ((5_002, "x".to_string()), 1),
            ]),
        };
        assert!(r.already_stored(5_001, "same"));
        assert!(r.already_stored(5_001, "same"));
        // A third identical line at the same millisecond was printed while sagebox was down.
        assert!(!r.already_stored(5_001, "same"));
        assert!(!r.already_stored(5_002, "y"));
        assert!(r.already_stored(5_002, "x"));
        assert!(!r.already_stored(5_002, "x"));
    }
}
