//! Rows of the stored-resource engine (service/stored): one table for every family the model
//! defines that has no table of its own, keyed by family and the resource's identifying members
//! joined into one key; and documents kept on a resource by ARN (Put<Resource>Policy).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct StoredRow {
    pub family: String,
    /// The identifying members' values joined with '/', unique per family regardless of case.
    pub key: String,
    pub arn: String,
    /// The status the resource is in until `next_at`, when it becomes `next_status`.
    pub status: Option<String>,
    pub next_status: Option<String>,
    pub next_at: Option<f64>,
    pub created: f64,
    pub modified: f64,
    /// The Create request's members, with later Updates merged in.
    pub request: Value,
    /// Members sagebox made (generated identifiers, versions).
    pub derived: Value,
}

impl StoredRow {
    /// The status at `now`: the transition, once its time has come.
    pub fn status_at(&self, now: f64) -> Option<&str> {
        match (&self.next_status, self.next_at) {
            (Some(next), Some(at)) if at <= now => Some(next),
            _ => self.status.as_deref(),
        }
    }

    /// Settles a due transition into `status`, so the row can be changed from where it stands.
    pub fn settle(&mut self, now: f64) {
        if let (Some(next), Some(at)) = (&self.next_status, self.next_at)
            && at <= now
        {
            self.status = Some(next.clone());
            self.next_status = None;
            self.next_at = None;
        }
    }
}

const COLUMNS: &str =
    "family, key, arn, status, next_status, next_at, created, modified, request, derived";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(StoredRow, String, String)> {
    Ok((
        StoredRow {
            family: r.get(0)?,
            key: r.get(1)?,
            arn: r.get(2)?,
            status: r.get(3)?,
            next_status: r.get(4)?,
            next_at: r.get(5)?,
            created: r.get(6)?,
            modified: r.get(7)?,
            request: Value::Null,
            derived: Value::Null,
        },
        r.get(8)?,
        r.get(9)?,
    ))
}

fn decode((mut row, request, derived): (StoredRow, String, String)) -> StoreResult<StoredRow> {
    row.request = serde_json::from_str(&request)?;
    row.derived = serde_json::from_str(&derived)?;
    Ok(row)
}

fn insert(conn: &Connection, row: &StoredRow) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO stored_resources ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    );
    conn.prepare_cached(&sql)?
        .execute(params![
            row.family,
            row.key,
            row.arn,
            row.status,
            row.next_status,
            row.next_at,
            row.created,
            row.modified,
            serde_json::to_string(&row.request)?,
            serde_json::to_string(&row.derived)?,
        ])
        .map_err(|e| match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::AlreadyExists
            }
            _ => e.into(),
        })?;
    Ok(())
}

fn select(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<StoredRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM stored_resources WHERE {filter} ORDER BY created, key");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args, from_row)?;
    rows.map(|r| decode(r?)).collect()
}

impl Store {
    /// Stores a new resource with its tags; a key or ARN already taken is `AlreadyExists`.
    pub async fn stored_insert(
        &self,
        row: StoredRow,
        tags: Vec<(String, String)>,
    ) -> StoreResult<()> {
        self.call(move |c| {
            let tx = c.transaction()?;
            insert(&tx, &row)?;
            super::tags::put(&tx, &row.arn, &tags)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn stored_get(&self, family: &str, key: &str) -> StoreResult<Option<StoredRow>> {
        let (family, key) = (family.to_string(), key.to_string());
        self.call(move |c| Ok(select(c, "family = ?1 AND key = ?2", &[&family, &key])?.pop()))
            .await
    }

    pub async fn stored_by_arn(&self, arn: &str) -> StoreResult<Option<StoredRow>> {
        let arn = arn.to_string();
        self.call(move |c| Ok(select(c, "arn = ?1", &[&arn])?.pop()))
            .await
    }

    /// Every resource of a family, oldest first (List filters and sorts them).
    pub async fn stored_all(&self, family: &str) -> StoreResult<Vec<StoredRow>> {
        let family = family.to_string();
        self.call(move |c| select(c, "family = ?1", &[&family]))
            .await
    }

    /// Rows of `family` whose stored request has `member` equal to `value` (case-insensitive).
    pub async fn stored_referencing(
        &self,
        family: &str,
        member: &str,
        value: &str,
    ) -> StoreResult<Vec<StoredRow>> {
        let (family, value) = (family.to_string(), value.to_string());
        // member names come from the generated catalog ([A-Za-z0-9]+), never from a request
        let path = format!("$.{member}");
        self.call(move |c| {
            select(
                c,
                "family = ?1 AND json_extract(request, ?2) = ?3 COLLATE NOCASE",
                &[&family, &path, &value],
            )
        })
        .await
    }

    /// Replaces a resource's status, request, derived members and modification time.
    pub async fn stored_put(&self, row: StoredRow) -> StoreResult<bool> {
        self.call(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE stored_resources SET status = ?3, next_status = ?4, next_at = ?5,
                     modified = ?6, request = ?7, derived = ?8 WHERE family = ?1 AND key = ?2",
                )?
                .execute(params![
                    row.family,
                    row.key,
                    row.status,
                    row.next_status,
                    row.next_at,
                    row.modified,
                    serde_json::to_string(&row.request)?,
                    serde_json::to_string(&row.derived)?,
                ])?;
            Ok(n > 0)
        })
        .await
    }

    /// Deletes a resource with its tags and documents. Returns whether it existed.
    pub async fn stored_delete(&self, family: &str, key: &str) -> StoreResult<bool> {
        let (family, key) = (family.to_string(), key.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let arn: Option<String> = tx
                .prepare_cached(
                    "DELETE FROM stored_resources WHERE family = ?1 AND key = ?2 RETURNING arn",
                )?
                .query_row([&family, &key], |r| r.get(0))
                .optional()?;
            if let Some(arn) = &arn {
                super::tags::delete_all(&tx, arn)?;
                tx.execute("DELETE FROM stored_documents WHERE arn = ?1", [arn])?;
            }
            tx.commit()?;
            Ok(arn.is_some())
        })
        .await
    }

    /// A document kept on a resource (a policy), by the resource's ARN and the document's name.
    pub async fn document(&self, arn: &str, name: &str) -> StoreResult<Option<Value>> {
        let (arn, name) = (arn.to_string(), name.to_string());
        self.call(move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM stored_documents WHERE arn = ?1 AND name = ?2")?
                .query_row([&arn, &name], |r| r.get(0))
                .optional()?;
            Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
        })
        .await
    }

    pub async fn put_document(&self, arn: &str, name: &str, body: Value) -> StoreResult<()> {
        let (arn, name) = (arn.to_string(), name.to_string());
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO stored_documents (arn, name, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (arn, name) DO UPDATE SET body = excluded.body",
            )?
            .execute(params![arn, name, serde_json::to_string(&body)?])?;
            Ok(())
        })
        .await
    }

    /// Removes a document. Returns whether there was one.
    pub async fn delete_document(&self, arn: &str, name: &str) -> StoreResult<bool> {
        let (arn, name) = (arn.to_string(), name.to_string());
        self.call(move |c| {
            let n = c
                .prepare_cached("DELETE FROM stored_documents WHERE arn = ?1 AND name = ?2")?
                .execute([&arn, &name])?;
            Ok(n > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(family: &str, key: &str) -> StoredRow {
        StoredRow {
            family: family.into(),
            key: key.into(),
            arn: format!(
                "arn:aws:sagemaker:us-east-1:000000000000:{}/{}",
                family.to_lowercase(),
                key.to_lowercase()
            ),
            status: Some("Pending".into()),
            next_status: Some("InService".into()),
            next_at: Some(10.0),
            created: 1.0,
            modified: 1.0,
            request: serde_json::json!({"ExperimentName": key}),
            derived: serde_json::json!({}),
        }
    }

    #[test]
    fn keys_are_unique_per_family_regardless_of_case() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut c).unwrap();
        insert(&c, &row("Experiment", "Abc")).unwrap();
        assert!(matches!(
            insert(&c, &row("Experiment", "aBC")),
            Err(StoreError::AlreadyExists)
        ));
        insert(&c, &row("Trial", "abc")).unwrap();
        let found = select(&c, "family = ?1 AND key = ?2", &[&"Experiment", &"ABC"]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "Abc");
    }

    #[test]
    fn a_transition_shows_once_its_time_has_come() {
        let mut r = row("Domain", "d-1");
        assert_eq!(r.status_at(9.0), Some("Pending"));
        assert_eq!(r.status_at(10.0), Some("InService"));
        r.settle(5.0);
        assert_eq!(r.status.as_deref(), Some("Pending"));
        r.settle(11.0);
        assert_eq!(
            (r.status.as_deref(), r.next_status.as_deref()),
            (Some("InService"), None)
        );
    }
}
