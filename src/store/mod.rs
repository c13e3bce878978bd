//! The state store: one SQLite database (`<data-dir>/sagebox.db`) in WAL mode.
//!
//! SQLite calls block, so every access goes through [`Store::call`], which runs the closure on
//! tokio's blocking pool while holding the single connection. An emulator's write concurrency is
//! low; one connection keeps transactions simple and ordering obvious. Typed repositories live in
//! the submodules; nothing outside `store` writes SQL.

pub mod logs;
mod migrations;
pub mod objects;
pub mod resources;
pub mod tags;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use resources::{ListQuery, Resource, ResourceKind, SortKey};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("data directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a resource with this name already exists")]
    AlreadyExists,
    #[error(
        "the database was written by a newer sagebox (schema {found}, this build knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("store task failed: {0}")]
    Task(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Resources recently read or written, so Describe calls skip SQLite (see resources.rs).
    cache: Arc<resources::ResourceCache>,
    /// Every bucket, so S3 calls check theirs without SQLite (see objects.rs).
    buckets: Arc<objects::BucketCache>,
}

impl Store {
    /// Opens (creating if needed) the database under `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        let mut conn = Connection::open(data_dir.join("sagebox.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL is durable across process crashes in WAL mode; only a power loss may drop the
        // last transactions, which is the trade every local database makes.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        migrations::apply(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            cache: Default::default(),
            buckets: Default::default(),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself is still sound
            // (SQLite rolls back an unfinished transaction), so keep serving.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Schema version, for the health report.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.call(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }
}
