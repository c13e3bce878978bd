//! Terminal states a supervisor reached but could not write: kept in memory by kind and name,
//! retried in the background until written (or the resource is gone, or a newer write supersedes
//! them), and laid over the stored row by Describe and List so clients see the real status.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use super::{is_terminal, persist};
use crate::aws::time::now_epoch;
use crate::service::resources::noun;
use crate::service::{ServiceError, Services};
use crate::store::resources::{Resource, ResourceKind};

/// The background retry's first pause and its ceiling: a busy database clears in seconds, a full
/// disk in minutes, and one write every half minute costs nothing meanwhile.
#[cfg(not(test))]
const RETRY_FIRST: Duration = Duration::from_secs(2);
#[cfg(test)]
const RETRY_FIRST: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A state waiting to be written.
#[derive(Debug, Clone)]
struct Entry {
    status: String,
    derived: Map<String, Value>,
    /// Whether `derived` is every derived member (built from the stored row) or only what the
    /// supervisor's edit set, when the row could not be read: then it is merged over the row.
    whole: bool,
    modified: f64,
    /// Which save this is: a newer one for the same resource ends the older one's retries.
    generation: u64,
}

impl Entry {
    fn derived_over(&self, stored: &Value) -> Value {
        if self.whole {
            return Value::Object(self.derived.clone());
        }
        let mut derived = stored.as_object().cloned().unwrap_or_default();
        derived.extend(self.derived.clone());
        Value::Object(derived)
    }
}

/// The unsaved terminal states of this process.
#[derive(Clone, Default)]
pub(crate) struct Unsaved {
    entries: Arc<Mutex<HashMap<(ResourceKind, String), Entry>>>,
    generations: Arc<AtomicU64>,
}

impl Unsaved {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(ResourceKind, String), Entry>> {
        // an entry map is never left half-changed, so a panic elsewhere does not spoil it
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keep(&self, kind: ResourceKind, name: &str, mut entry: Entry) -> u64 {
        entry.generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let generation = entry.generation;
        self.entries().insert((kind, name.to_string()), entry);
        generation
    }

    fn current(&self, kind: ResourceKind, name: &str, generation: u64) -> Option<Entry> {
        self.entries()
            .get(&(kind, name.to_string()))
            .filter(|e| e.generation == generation)
            .cloned()
    }

    fn forget_generation(&self, kind: ResourceKind, name: &str, generation: u64) {
        let mut entries = self.entries();
        let key = (kind, name.to_string());
        if entries
            .get(&key)
            .is_some_and(|e| e.generation == generation)
        {
            entries.remove(&key);
        }
    }

    /// Drops what waits for `name`: a newer state was written, or the resource was deleted.
    pub(crate) fn forget(&self, kind: ResourceKind, name: &str) {
        self.entries().remove(&(kind, name.to_string()));
    }

    /// `res` as Describe should show it: with the unsaved state, if one waits.
    pub(crate) fn overlay(&self, kind: ResourceKind, res: Arc<Resource>) -> Arc<Resource> {
        let Some(entry) = self.entries().get(&(kind, res.name.clone())).cloned() else {
            return res;
        };
        let mut shown = (*res).clone();
        shown.status = Some(entry.status.clone());
        shown.derived = entry.derived_over(&res.derived);
        shown.modified = entry.modified;
        Arc::new(shown)
    }
}

impl Services {
    /// A supervisor's save of `name`'s status and what `edit` changes in its derived members
    /// (see `persist`). A terminal state that cannot be written is kept and retried in the
    /// background; Describe and List show it meanwhile. Returns whether it was written now.
    pub(crate) async fn persist_state(
        &self,
        kind: ResourceKind,
        name: &str,
        status: &str,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> bool {
        self.persist_change(kind, name, status, |_, d| {
            edit(d);
            Some(status.to_string())
        })
        .await
    }

    /// `persist_state`, with the status to write and the edit decided on the row as it stands
    /// when it is written (see `change_state`), so a Stop call or another writer that lands in
    /// between is seen, not undone. `decide` answers the status to write, or None to write
    /// nothing (a move the family's status table refuses from the stored status); `status` is
    /// the one meant, for the retries of a terminal state and the log. Returns whether the
    /// save went through (written, or nothing to write).
    pub(crate) async fn persist_change(
        &self,
        kind: ResourceKind,
        name: &str,
        status: &str,
        decide: impl Fn(&Resource, &mut Map<String, Value>) -> Option<String>,
    ) -> bool {
        let what = format!("{} {name}", noun(kind));
        // the state the last try meant to write, for keeping if every try fails
        let meant: Mutex<Option<(String, Map<String, Value>)>> = Mutex::new(None);
        let saved = persist(&what, status, || async {
            self.change_state(kind, name, |row, derived| {
                let to = decide(row, derived);
                if let (Some(to), Ok(mut slot)) = (&to, meant.lock()) {
                    *slot = Some((to.clone(), derived.clone()));
                }
                Ok(to)
            })
            .await
            .map(|_| ())
        })
        .await;
        if saved || !is_terminal(status) {
            return saved;
        }
        let meant = meant.into_inner().ok().flatten();
        let whole = meant.is_some();
        let (status, derived) = match meant {
            Some(m) => m,
            None => {
                // the row could not be read: what the edit sets, laid over the row later
                let mut d = Map::new();
                let unread = Resource {
                    name: name.to_string(),
                    arn: String::new(),
                    status: None,
                    created: 0.0,
                    modified: 0.0,
                    request: Value::Null,
                    derived: Value::Null,
                };
                match decide(&unread, &mut d) {
                    Some(to) => (to, d),
                    None => return false,
                }
            }
        };
        let entry = Entry {
            status: status.clone(),
            derived,
            whole,
            modified: now_epoch(),
            generation: 0,
        };
        let generation = self.unsaved.keep(kind, name, entry);
        tracing::warn!(
            "{what}: Describe shows status {status} from memory; sagebox keeps trying to save it"
        );
        tokio::spawn(
            self.clone()
                .retry_unsaved(kind, name.to_string(), generation),
        );
        false
    }

    /// Writes a kept state every few seconds (backing off) until it is written, superseded by a
    /// newer save, or its resource is gone.
    async fn retry_unsaved(self, kind: ResourceKind, name: String, generation: u64) {
        let what = format!("{} {name}", noun(kind));
        let mut pause = RETRY_FIRST;
        loop {
            tokio::time::sleep(pause).await;
            let Some(entry) = self.unsaved.current(kind, &name, generation) else {
                return;
            };
            match self.write_unsaved(kind, &name, &entry).await {
                Ok(()) => {
                    self.unsaved.forget_generation(kind, &name, generation);
                    tracing::info!("{what}: terminal status {} saved at last", entry.status);
                    return;
                }
                Err(e) => tracing::warn!(
                    "{what}: still cannot save terminal status {}, retrying in {}s: {e}",
                    entry.status,
                    pause.as_secs()
                ),
            }
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    async fn write_unsaved(
        &self,
        kind: ResourceKind,
        name: &str,
        entry: &Entry,
    ) -> Result<(), ServiceError> {
        // a resource deleted meanwhile has nothing left to correct
        let Some(res) = self.store.resource(kind, name).await? else {
            return Ok(());
        };
        self.store
            .update_resource_state(
                kind,
                name,
                Some(entry.status.clone()),
                entry.derived_over(&res.derived),
                entry.modified,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::json;

    use crate::config::Config;
    use crate::service::Services;
    use crate::store::resources::ResourceKind;

    const KIND: ResourceKind = ResourceKind::TransformJob;

    async fn services_with_job(dir: &tempfile::TempDir) -> Services {
        let services =
            Services::open(Config::for_tests(dir.path().to_path_buf())).expect("services open");
        let mut request = serde_json::Map::new();
        request.insert("TransformJobName".into(), json!("j"));
        services
            .create_resource(KIND, "j", request, json!({}), Some("InProgress"))
            .await
            .expect("job created");
        services
    }

    async fn stored_status(services: &Services) -> Option<String> {
        let row = services.store.resource(KIND, "j").await.expect("read");
        row.expect("job stored").status.clone()
    }

    fn refuse_writes(services: &Services, refuse: bool) {
        services
            .store
            .refuse_state_writes
            .store(refuse, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn an_unsaved_terminal_state_shows_in_describe_and_is_written_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let services = services_with_job(&dir).await;
        refuse_writes(&services, true);
        let saved = services
            .persist_state(KIND, "j", "Failed", |d| {
                d.insert("FailureReason".into(), json!("ClientError: boom"));
            })
            .await;
        assert!(!saved);
        assert_eq!(
            stored_status(&services).await.as_deref(),
            Some("InProgress")
        );
        let shown = services
            .describe_resource(KIND, "j")
            .await
            .expect("describe");
        assert_eq!(shown.status.as_deref(), Some("Failed"));
        assert_eq!(shown.derived["FailureReason"], json!("ClientError: boom"));
        // The family's own Describe shows it too, not only the generic one.
        let described = services
            .describe_transform_job("j")
            .await
            .expect("describe transform job");
        assert_eq!(
            described.status.map(|s| s.as_str()),
            Some("Failed"),
            "DescribeTransformJob"
        );
        let listed = services
            .list_resources(
                KIND,
                crate::service::resources::ListParams {
                    query: crate::store::ListQuery::every(None),
                    next_token: None,
                },
            )
            .await
            .expect("list");
        assert_eq!(listed.items[0].status.as_deref(), Some("Failed"));
        let in_progress = services
            .list_resources(
                KIND,
                crate::service::resources::ListParams {
                    query: crate::store::ListQuery::every(Some("InProgress")),
                    next_token: None,
                },
            )
            .await
            .expect("list");
        assert!(in_progress.items.is_empty());

        refuse_writes(&services, false);
        for _ in 0..200 {
            // The retry forgets the pending entry just after its write lands: wait for both.
            if stored_status(&services).await.as_deref() == Some("Failed")
                && services.unsaved.entries().is_empty()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(stored_status(&services).await.as_deref(), Some("Failed"));
        let row = services.store.resource(KIND, "j").await.expect("read");
        let row = row.expect("job stored");
        assert_eq!(row.derived["FailureReason"], json!("ClientError: boom"));
        assert!(services.unsaved.entries().is_empty());
    }

    #[tokio::test]
    async fn a_newer_save_supersedes_an_unsaved_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let services = services_with_job(&dir).await;
        refuse_writes(&services, true);
        services.persist_state(KIND, "j", "Stopped", |_| {}).await;
        refuse_writes(&services, false);
        services
            .update_status(KIND, "j", "InProgress", |_| {})
            .await
            .expect("saved");
        let shown = services
            .describe_resource(KIND, "j")
            .await
            .expect("describe");
        assert_eq!(shown.status.as_deref(), Some("InProgress"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            stored_status(&services).await.as_deref(),
            Some("InProgress")
        );
    }
}
