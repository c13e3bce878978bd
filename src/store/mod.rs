//! The state store: one SQLite database (`<data-dir>/sagebox.db`) in WAL mode.
//!
//! SQLite calls block, so every access goes through [`Store::call`], which runs the closure on
//! tokio's blocking pool while holding the single connection. An emulator's write concurrency is
//! low; one connection keeps transactions simple and ordering obvious. Typed repositories live in
//! the submodules; nothing outside `store` writes SQL.

pub mod experiments;
pub mod features;
mod integrity;
pub mod logs;
pub mod metrics;
mod migrations;
pub mod objects;
pub mod resources;
pub mod stored;
pub mod tags;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use resources::{ListQuery, Resource, ResourceKind, SortKey};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = "sagebox.db";

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
    #[error(
        "{p} is damaged ({detail}). With sagebox stopped, restore {p} from a backup (with its -wal \
         file, if any), or salvage what is readable with `sqlite3 {p} .recover | sqlite3 \
         {p}.recovered` and put that in its place, or move the data directory aside to start \
         afresh. Nothing was deleted; the object files are untouched",
        p = .path.display()
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "{db} is missing or empty, but {objects} holds {count} object files that database would \
         have listed. sagebox cannot tell which objects they are, so it does not start (and \
         deletes nothing): restore {db} from a backup, or move the data directory (or its \
         objects folder) aside to start afresh",
        db = .db.display(),
        objects = .objects.display()
    )]
    Unknown {
        db: PathBuf,
        objects: PathBuf,
        count: usize,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Resources recently read or written, so Describe calls skip SQLite (see resources.rs).
    cache: Arc<resources::ResourceCache>,
    /// Every bucket, so S3 calls check theirs without SQLite (see objects.rs).
    buckets: Arc<objects::BucketCache>,
    /// Object rows recently read or written, so a GET of a hot key skips SQLite (see objects.rs).
    object_rows: Arc<objects::ObjectCache>,
    /// Object rows waiting to be written together (see objects.rs).
    object_puts: Arc<objects::PutQueue>,
    /// Whether the database was new (missing, empty or without a schema) when opened: such a
    /// database knows no object, so nothing may be judged an orphan against it.
    opened_new: bool,
    /// Damage seen since the start, for the health report (see integrity.rs).
    integrity: Arc<integrity::Monitor>,
    /// Tests set this to make resource state writes fail, as a full disk or a busy database would.
    #[cfg(test)]
    pub(crate) refuse_state_writes: Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// Opens (creating if needed) the database under `data_dir` and brings its schema up to date.
    ///
    /// A damaged database is refused before anything is written to it. When the database is
    /// new (missing, empty, or without a schema), `allow_new` decides before anything is written
    /// whether that is fine (it is not when files exist that the old database listed).
    pub fn open(
        data_dir: &Path,
        allow_new: impl FnOnce() -> StoreResult<()>,
    ) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let (mut conn, opened_new) = match integrity::open_existing(&path)? {
            Some((conn, version)) => {
                if version == 0 {
                    allow_new()?;
                }
                (conn, version == 0)
            }
            None => {
                allow_new()?;
                (Connection::open(&path)?, true)
            }
        };
        let damaged = |e| integrity::damaged(&path, e);
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(damaged)?;
        // NORMAL is durable across process crashes in WAL mode; only a power loss may drop the
        // last transactions, which is the trade every local database makes.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        migrations::apply(&mut conn).map_err(|e| match e {
            StoreError::Sqlite(e) => integrity::damaged(&path, e),
            e => e,
        })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            cache: Default::default(),
            buckets: Default::default(),
            object_rows: Default::default(),
            object_puts: Default::default(),
            opened_new,
            integrity: Arc::new(integrity::Monitor::new(path)),
            #[cfg(test)]
            refuse_state_writes: Default::default(),
        })
    }

    /// Whether the database was new when this run opened it (see the field).
    pub fn opened_new(&self) -> bool {
        self.opened_new
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let integrity = self.integrity.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself is still sound
            // (SQLite rolls back an unfinished transaction), so keep serving.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            let result = f(&mut guard);
            if let Err(StoreError::Sqlite(e)) = &result {
                integrity.saw(e);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Schema version, for the health report. Fails, saying what is wrong and what to do, when
    /// the database is damaged: a fresh connection checks the file on disk (`quick_check`), and
    /// damage any query met since the start counts too.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let integrity = self.integrity.clone();
        tokio::task::spawn_blocking(move || integrity.check())
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        self.call(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }
}
