//! Whether the database file is sound: checked before sagebox writes to it at startup, and again
//! for each health report, so a damaged file is named together with what to do about it instead
//! of surfacing later as "malformed" errors from whichever call touches the bad page.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{StoreError, StoreResult};

/// How long a health report reuses the last file check: `quick_check` reads the whole file,
/// which a poller calling health every second should not repeat each time.
const RECHECK_AFTER: Duration = Duration::from_secs(5);

/// Opens an existing, non-empty database without creating or writing anything, and checks it.
/// Returns None when there is no database yet (no file, or an empty one), else the connection
/// and the schema version it holds (0: no schema).
pub(super) fn open_existing(path: &Path) -> StoreResult<Option<(Connection, i64)>> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(source) => {
            return Err(StoreError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    if len == 0 {
        // SQLite would replay a leftover write-ahead log into a new file: half a database.
        let wal = wal_path(path);
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(StoreError::Damaged {
                path: path.to_path_buf(),
                detail: format!(
                    "the file is missing or empty but its write-ahead log {} is there",
                    wal.display()
                ),
            });
        }
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| damaged(path, e))?;
    if let Some(detail) = quick_check(&conn).map_err(|e| damaged(path, e))? {
        return Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail,
        });
    }
    Ok(Some((conn, version)))
}

/// An error from SQLite, as the Damaged error when it says the file is not a sound database.
pub(super) fn damaged(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_damage(&e) {
        StoreError::Damaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    } else {
        StoreError::Sqlite(e)
    }
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// `PRAGMA quick_check`: None when the file is sound, else the first problems it lists.
fn quick_check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match rows.as_slice() {
        [ok] if ok == "ok" => None,
        _ => Some(format!("quick_check: {}", rows.join("; "))),
    })
}

/// The running server's view of the file's health.
pub(super) struct Monitor {
    path: PathBuf,
    /// The first damage a query met: the shared connection may hold it in its cache even when
    /// a fresh look at the file no longer shows it, so it stands until the restart.
    seen: Mutex<Option<String>>,
    /// The last file check: when, and what it found (None: sound).
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl Monitor {
    pub(super) fn new(path: PathBuf) -> Monitor {
        Monitor {
            path,
            seen: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    /// Notes a query's error when it is damage.
    pub(super) fn saw(&self, e: &rusqlite::Error) {
        if is_damage(e) {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.is_none() {
                tracing::error!(
                    "{} is damaged: {e}; stop sagebox and restore it from a backup",
                    self.path.display()
                );
                *seen = Some(format!("a query failed: {e}"));
            }
        }
    }

    /// Checks the file on disk with a connection of its own (the shared one may serve cached
    /// pages), blocking: run it on the blocking pool.
    pub(super) fn check(&self) -> StoreResult<()> {
        let found = match self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(detail) => Some(detail),
            None => self.file_check()?,
        };
        match found {
            None => Ok(()),
            Some(detail) => Err(StoreError::Damaged {
                path: self.path.clone(),
                detail,
            }),
        }
    }

    fn file_check(&self) -> StoreResult<Option<String>> {
        if let Some((at, found)) = &*self.last.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < RECHECK_AFTER
        {
            return Ok(found.clone());
        }
        let found = if !self.path.exists() {
            Some("the file is gone: it was removed or moved while sagebox ran".to_string())
        } else {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let look = || -> rusqlite::Result<Option<String>> {
                let conn = Connection::open_with_flags(&self.path, flags)?;
                conn.busy_timeout(Duration::from_secs(2))?;
                quick_check(&conn)
            };
            match look() {
                Ok(found) => found,
                Err(e) if is_damage(&e) => Some(e.to_string()),
                Err(e) => return Err(StoreError::Sqlite(e)),
            }
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), found.clone()));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DB_FILE, Store, StoreError};
    use rusqlite::Connection;

    fn refuse() -> Result<(), StoreError> {
        Err(StoreError::Task("refused".into()))
    }

    #[test]
    fn a_refused_new_database_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Store::open(dir.path(), refuse).is_err());
        assert!(!dir.path().join(DB_FILE).exists());

        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x)").unwrap();
        drop(conn);
        assert!(Store::open(dir.path(), refuse).is_err());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1);
        drop(conn);

        let store = Store::open(dir.path(), || Ok(())).unwrap();
        assert!(store.opened_new());
        drop(store);
        assert!(!Store::open(dir.path(), refuse).unwrap().opened_new());
    }

    #[test]
    fn a_damaged_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO filler SELECT printf('%0200d', i) FROM n;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
        drop(conn);
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096;
        let middle = bytes.len() / page / 2 * page;
        bytes[middle..middle + 2 * page].fill(0xA5);
        std::fs::write(&path, &bytes).unwrap();

        match Store::open(dir.path(), || Ok(())) {
            Err(StoreError::Damaged { path: p, detail }) => {
                assert_eq!(p, path);
                assert!(!detail.is_empty());
            }
            Err(e) => panic!("expected Damaged, got {e}"),
            Ok(_) => panic!("a damaged database opened"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
