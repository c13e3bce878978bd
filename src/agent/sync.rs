//! Binds the plan marks `sync` (a training job's checkpoints, a notebook's home) are returned
//! while the program runs, not only when it exits, so what they held survives the loss of the
//! node: every [`POLL`] the agent takes a fingerprint of each (names, sizes, modification
//! times), and returns one whose fingerprint differs from what sagebox has and has stayed the
//! same for one poll (a file still being written is left for the next round).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::client::AgentClient;
use super::exec::{say, summary, upload};
use super::plan::{Plan, PlannedBind};

/// How often the synced binds are looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// The plan's `sync` binds with their content as it is before the program starts (what sagebox
/// has).
pub async fn baseline(plan: &Plan) -> Vec<(PlannedBind, Option<u64>)> {
    let mut out = Vec::new();
    for b in plan.binds.iter().filter(|b| b.sync && !b.read_only) {
        out.push((b.clone(), fingerprint_of(&b.path).await));
    }
    out
}

/// Keeps the `baseline` binds returned until `done` turns true, then returns after the
/// upload in flight, if any, so the final return never runs beside it.
pub async fn keep_synced(
    plan: &Plan,
    client: &AgentClient,
    baseline: Vec<(PlannedBind, Option<u64>)>,
    mut done: watch::Receiver<bool>,
) {
    if baseline.is_empty() {
        return;
    }
    let (binds, mut sent): (Vec<PlannedBind>, Vec<Option<u64>>) = baseline.into_iter().unzip();
    let mut seen = sent.clone();
    loop {
        tokio::select! {
            _ = done.wait_for(|d| *d) => return,
            () = tokio::time::sleep(POLL) => {}
        }
        for (i, b) in binds.iter().enumerate() {
            let now = fingerprint_of(&b.path).await;
            if due(sent[i], seen[i], now) {
                let started = Instant::now();
                match upload(client, plan, b).await {
                    Ok(stats) => {
                        sent[i] = now;
                        say(&format!("synced {}", summary(&b.path, stats, started)));
                    }
                    // the next round tries again; the return at the end happens in any case
                    Err(e) => say(&format!("cannot sync {} yet: {e}", b.path)),
                }
            }
            seen[i] = now;
        }
    }
}

/// Whether a bind whose content sagebox has as `sent`, that looked like `seen` one poll ago and
/// like `now` at present, is to be returned: it changed, and has settled.
pub fn due(sent: Option<u64>, seen: Option<u64>, now: Option<u64>) -> bool {
    now.is_some() && now != sent && now == seen
}

async fn fingerprint_of(path: &str) -> Option<u64> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || fingerprint(Path::new(&path)))
        .await
        .ok()
        .flatten()
}

/// A hash of every entry under `root`: relative name, kind, size and modification time. None
/// when `root` cannot be read.
pub fn fingerprint(root: &Path) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let meta = std::fs::symlink_metadata(root).ok()?;
    hash_entry(&mut hasher, Path::new(""), &meta);
    if meta.is_dir() {
        walk(&mut hasher, root, Path::new(""))?;
    }
    Some(hasher.finish())
}

fn walk(hasher: &mut impl Hasher, dir: &Path, rel: &Path) -> Option<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue; // removed meanwhile
        };
        let name = rel.join(e.file_name());
        hash_entry(hasher, &name, &meta);
        if meta.is_dir() {
            walk(hasher, &e.path(), &name)?;
        }
    }
    Some(())
}

fn hash_entry(hasher: &mut impl Hasher, name: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    name.hash(hasher);
    meta.file_type().is_dir().hash(hasher);
    meta.len().hash(hasher);
    meta.mtime().hash(hasher);
    meta.mtime_nsec().hash(hasher);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_is_returned_once_it_changed_and_settled() {
        assert!(!due(Some(1), Some(1), Some(1)), "unchanged");
        assert!(!due(Some(1), Some(1), Some(2)), "changed, not settled");
        assert!(due(Some(1), Some(2), Some(2)), "changed and settled");
        assert!(!due(Some(2), Some(2), Some(2)), "already sent");
        assert!(!due(Some(1), None, None), "unreadable");
        assert!(due(None, Some(3), Some(3)), "readable again");
    }

    #[test]
    fn the_fingerprint_follows_names_sizes_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let empty = fingerprint(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), b"1").unwrap();
        let one = fingerprint(dir.path()).unwrap();
        assert_ne!(empty, one);
        assert_eq!(one, fingerprint(dir.path()).unwrap());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), b"22").unwrap();
        let two = fingerprint(dir.path()).unwrap();
        assert_ne!(one, two);
        std::fs::write(dir.path().join("sub/b"), b"333").unwrap();
        assert_ne!(two, fingerprint(dir.path()).unwrap());
        std::fs::remove_file(dir.path().join("a")).unwrap();
        assert_ne!(two, fingerprint(dir.path()).unwrap());
        assert_eq!(fingerprint(&dir.path().join("missing")), None);
    }
}
