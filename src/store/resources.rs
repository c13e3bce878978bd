//! The resource tables: one per SageMaker resource kind, all with the same columns (name, ARN,
//! status, times, the request as sent, and what sagebox derived from it). A Describe is the
//! stored request merged with the derived fields, so nothing a client sent is lost.
//!
//! Reads of single resources are served from an in-memory cache: Describe calls are the hot path
//! of every SDK (waiters poll them), and answering from memory keeps them off the blocking pool.
//! The cache is filled and changed only while the connection lock is held, right after the
//! SQLite write commits, so it never runs ahead of or behind the database for a caller that
//! waits for its write to be acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{Store, StoreError, StoreResult};

/// Every kind of resource sagebox stores. The table name comes from here, never from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Model,
    EndpointConfig,
    TrainingJob,
    Endpoint,
    TransformJob,
    NotebookInstance,
    NotebookLifecycleConfig,
    ProcessingJob,
    HyperParameterTuningJob,
    ModelPackageGroup,
    /// Named `<group>/<version>` when versioned (its ARN is `model-package/<group>/<version>`),
    /// else by its own name.
    ModelPackage,
    Pipeline,
    /// Named `<pipeline>/execution/<id>`, so its ARN is SageMaker's
    /// `pipeline/<pipeline>/execution/<id>`.
    PipelineExecution,
}

impl ResourceKind {
    pub const ALL: &'static [ResourceKind] = &[
        ResourceKind::Model,
        ResourceKind::EndpointConfig,
        ResourceKind::TrainingJob,
        ResourceKind::Endpoint,
        ResourceKind::TransformJob,
        ResourceKind::NotebookInstance,
        ResourceKind::NotebookLifecycleConfig,
        ResourceKind::ProcessingJob,
        ResourceKind::HyperParameterTuningJob,
        ResourceKind::ModelPackageGroup,
        ResourceKind::ModelPackage,
        ResourceKind::Pipeline,
        ResourceKind::PipelineExecution,
    ];

    fn table(self) -> &'static str {
        match self {
            ResourceKind::Model => "models",
            ResourceKind::EndpointConfig => "endpoint_configs",
            ResourceKind::TrainingJob => "training_jobs",
            ResourceKind::Endpoint => "endpoints",
            ResourceKind::TransformJob => "transform_jobs",
            ResourceKind::NotebookInstance => "notebook_instances",
            ResourceKind::NotebookLifecycleConfig => "notebook_lifecycle_configs",
            ResourceKind::ProcessingJob => "processing_jobs",
            ResourceKind::HyperParameterTuningJob => "hyper_parameter_tuning_jobs",
            ResourceKind::ModelPackageGroup => "model_package_groups",
            ResourceKind::ModelPackage => "model_packages",
            ResourceKind::Pipeline => "pipelines",
            ResourceKind::PipelineExecution => "pipeline_executions",
        }
    }

    /// The resource-type part of the ARN (`arn:aws:sagemaker:r:a:<type>/<name>`).
    pub fn arn_type(self) -> &'static str {
        match self {
            ResourceKind::Model => "model",
            ResourceKind::EndpointConfig => "endpoint-config",
            ResourceKind::TrainingJob => "training-job",
            ResourceKind::Endpoint => "endpoint",
            ResourceKind::TransformJob => "transform-job",
            ResourceKind::NotebookInstance => "notebook-instance",
            ResourceKind::NotebookLifecycleConfig => "notebook-instance-lifecycle-config",
            ResourceKind::ProcessingJob => "processing-job",
            ResourceKind::HyperParameterTuningJob => "hyper-parameter-tuning-job",
            ResourceKind::ModelPackageGroup => "model-package-group",
            ResourceKind::ModelPackage => "model-package",
            ResourceKind::Pipeline | ResourceKind::PipelineExecution => "pipeline",
        }
    }

    pub fn from_arn_type(t: &str) -> Option<ResourceKind> {
        Self::ALL.iter().copied().find(|k| k.arn_type() == t)
    }
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub arn: String,
    pub status: Option<String>,
    /// Epoch seconds.
    pub created: f64,
    pub modified: f64,
    /// The request's members, as the client sent them.
    pub request: Value,
    /// Members sagebox computed (defaults filled in, state reported by supervisors).
    pub derived: Value,
}

/// What a conditional state write did (see `Store::update_resource_state_if`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateWrite {
    Written,
    /// The row changed after it was read: nothing was written.
    Changed,
    /// The resource is gone.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    CreationTime,
}

/// Where the previous page stopped: the sort value and name of its last row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    Name(String),
    Created(f64, String),
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub name_contains: Option<String>,
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    pub status_equals: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: usize,
}

impl ListQuery {
    /// Every resource of a kind (optionally in one status), oldest first: what startup
    /// recovery walks through.
    pub fn every(status: Option<&str>) -> ListQuery {
        ListQuery {
            name_contains: None,
            created_after: None,
            created_before: None,
            status_equals: status.map(str::to_string),
            sort: SortKey::CreationTime,
            descending: false,
            after: None,
            limit: 1_000_000_000,
        }
    }
}

const COLUMNS: &str = "name, arn, status, created, modified, request, derived";

/// A full row: the bare columns, then the request and derived documents (decoded by `decode`).
fn from_row(r: &Row<'_>) -> rusqlite::Result<(Resource, String, String)> {
    Ok((bare_from_row(r)?, r.get(5)?, r.get(6)?))
}

/// The columns of a bare row (see `list`).
const BARE_COLUMNS: &str = "name, arn, status, created, modified";

fn bare_from_row(r: &Row<'_>) -> rusqlite::Result<Resource> {
    Ok(Resource {
        name: r.get(0)?,
        arn: r.get(1)?,
        status: r.get(2)?,
        created: r.get(3)?,
        modified: r.get(4)?,
        request: Value::Null,
        derived: Value::Null,
    })
}

fn decode((mut res, request, derived): (Resource, String, String)) -> StoreResult<Resource> {
    res.request = serde_json::from_str(&request)?;
    res.derived = serde_json::from_str(&derived)?;
    Ok(res)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Inserts a new resource; a name already taken (case-insensitively) is `AlreadyExists`.
fn insert(conn: &Connection, kind: ResourceKind, res: &Resource) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO {} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        kind.table()
    );
    conn.prepare_cached(&sql)?
        .execute(params![
            res.name,
            res.arn,
            res.status,
            res.created,
            res.modified,
            serde_json::to_string(&res.request)?,
            serde_json::to_string(&res.derived)?,
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists
            } else {
                e.into()
            }
        })?;
    Ok(())
}

fn get(conn: &Connection, kind: ResourceKind, name: &str) -> StoreResult<Option<Resource>> {
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE name = ?1", kind.table());
    conn.prepare_cached(&sql)?
        .query_row([name], from_row)
        .optional()?
        .map(decode)
        .transpose()
}

fn exists_arn(conn: &Connection, kind: ResourceKind, arn: &str) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM {} WHERE arn = ?1", kind.table());
    Ok(conn.prepare_cached(&sql)?.exists([arn])?)
}

/// Replaces the status and derived members of an existing resource, and gives the cache the
/// row as written. Returns whether the row exists.
fn write_state(
    conn: &Connection,
    cache: &ResourceCache,
    kind: ResourceKind,
    name: &str,
    status: Option<&str>,
    derived: &Value,
    modified: f64,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE {} SET status = ?2, derived = ?3, modified = ?4 WHERE name = ?1",
        kind.table()
    );
    let n = conn.prepare_cached(&sql)?.execute(params![
        name,
        status,
        serde_json::to_string(derived)?,
        modified
    ])?;
    match get(conn, kind, name)? {
        Some(r) => cache.put(kind, Arc::new(r)),
        None => cache.forget(kind, name),
    }
    Ok(n > 0)
}

/// Deletes the resource and its tags together. Returns whether it existed.
fn delete(conn: &mut Connection, kind: ResourceKind, name: &str) -> StoreResult<bool> {
    let tx = conn.transaction()?;
    let arn: Option<String> = tx
        .prepare_cached(&format!(
            "DELETE FROM {} WHERE name = ?1 RETURNING arn",
            kind.table()
        ))?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if let Some(arn) = &arn {
        super::tags::delete_all(&tx, arn)?;
    }
    tx.commit()?;
    Ok(arn.is_some())
}

/// One page of resources, in the requested order, starting after the cursor. Asks for
/// `limit + 1` rows so the caller can tell whether another page follows.
fn list(
    conn: &Connection,
    kind: ResourceKind,
    q: &ListQuery,
    bare: bool,
) -> StoreResult<Vec<Resource>> {
    // Bare rows leave the JSON documents out: a summary made of columns needs neither their
    // bytes nor their parsing, which were most of a ListModels.
    let columns = if bare { BARE_COLUMNS } else { COLUMNS };
    let mut sql = format!("SELECT {columns} FROM {} WHERE 1=1", kind.table());
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    // Pushes a bound value and returns its `?N` placeholder.
    fn bind(
        args: &mut Vec<rusqlite::types::Value>,
        v: impl Into<rusqlite::types::Value>,
    ) -> String {
        args.push(v.into());
        format!("?{}", args.len())
    }
    if let Some(s) = &q.name_contains {
        sql += &format!(
            " AND instr(lower(name), lower({})) > 0",
            bind(&mut args, s.clone())
        );
    }
    if let Some(t) = q.created_after {
        sql += &format!(" AND created > {}", bind(&mut args, t));
    }
    if let Some(t) = q.created_before {
        sql += &format!(" AND created < {}", bind(&mut args, t));
    }
    if let Some(s) = &q.status_equals {
        sql += &format!(" AND status = {}", bind(&mut args, s.clone()));
    }
    let cmp = if q.descending { "<" } else { ">" };
    match &q.after {
        Some(Cursor::Name(n)) => sql += &format!(" AND name {cmp} {}", bind(&mut args, n.clone())),
        Some(Cursor::Created(t, n)) => {
            let (t, n) = (bind(&mut args, *t), bind(&mut args, n.clone()));
            sql += &format!(" AND (created {cmp} {t} OR (created = {t} AND name {cmp} {n}))");
        }
        None => {}
    }
    let dir = if q.descending { "DESC" } else { "ASC" };
    match q.sort {
        SortKey::Name => sql.push_str(&format!(" ORDER BY name {dir}")),
        SortKey::CreationTime => sql.push_str(&format!(" ORDER BY created {dir}, name {dir}")),
    }
    sql.push_str(&format!(" LIMIT {}", q.limit + 1));
    let mut stmt = conn.prepare_cached(&sql)?;
    if bare {
        let rows = stmt.query_map(rusqlite::params_from_iter(args), bare_from_row)?;
        return Ok(rows.collect::<Result<_, _>>()?);
    }
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    rows.map(|r| decode(r?)).collect()
}

/// Resources by kind and case-folded name (names are ASCII and unique regardless of case).
#[derive(Default)]
pub struct ResourceCache {
    map: RwLock<HashMap<(ResourceKind, String), Arc<Resource>>>,
}

/// Beyond this many cached resources, reads of others go to SQLite.
const CACHE_LIMIT: usize = 50_000;

impl ResourceCache {
    fn get(&self, kind: ResourceKind, name: &str) -> Option<Arc<Resource>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(kind, name.to_ascii_lowercase())).cloned()
    }

    fn put(&self, kind: ResourceKind, res: Arc<Resource>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let key = (kind, res.name.to_ascii_lowercase());
        if map.len() < CACHE_LIMIT || map.contains_key(&key) {
            map.insert(key, res);
        }
    }

    fn forget(&self, kind: ResourceKind, name: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&(kind, name.to_ascii_lowercase()));
    }
}

impl Store {
    /// Stores a new resource with its tags in one transaction; a name already taken
    /// (case-insensitively) is `AlreadyExists`.
    pub async fn create_resource(
        &self,
        kind: ResourceKind,
        res: Resource,
        tags: Vec<(String, String)>,
    ) -> StoreResult<Arc<Resource>> {
        let cache = self.cache.clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            insert(&tx, kind, &res)?;
            super::tags::put(&tx, &res.arn, &tags)?;
            tx.commit()?;
            let res = Arc::new(res);
            cache.put(kind, res.clone());
            Ok(res)
        })
        .await
    }

    pub async fn resource(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> StoreResult<Option<Arc<Resource>>> {
        if let Some(r) = self.cache.get(kind, name) {
            return Ok(Some(r));
        }
        let cache = self.cache.clone();
        let name = name.to_string();
        self.call(move |c| {
            let found = get(c, kind, &name)?.map(Arc::new);
            if let Some(r) = &found {
                cache.put(kind, r.clone());
            }
            Ok(found)
        })
        .await
    }

    pub async fn resource_arn_exists(&self, kind: ResourceKind, arn: &str) -> StoreResult<bool> {
        let arn = arn.to_string();
        self.call(move |c| exists_arn(c, kind, &arn)).await
    }

    /// Replaces the status and derived members of an existing resource. Returns whether it exists.
    pub async fn update_resource_state(
        &self,
        kind: ResourceKind,
        name: &str,
        status: Option<String>,
        derived: Value,
        modified: f64,
    ) -> StoreResult<bool> {
        self.refused_by_a_test()?;
        let cache = self.cache.clone();
        let name = name.to_string();
        self.call(move |c| {
            write_state(
                c,
                &cache,
                kind,
                &name,
                status.as_deref(),
                &derived,
                modified,
            )
        })
        .await
    }

    /// The state-write failure a test asked for (see `refuse_state_writes`).
    fn refused_by_a_test(&self) -> StoreResult<()> {
        #[cfg(test)]
        if self
            .refuse_state_writes
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Task("state writes refused by a test".into()));
        }
        Ok(())
    }

    /// Replaces the status and derived members of `read`'s resource only if the row is still
    /// the one `read` shows (same status, derived members and modification time): a writer that
    /// decided on a row it read does not undo a write made since. The comparison and the write
    /// happen under the connection's lock, so no other write can come between them.
    pub async fn update_resource_state_if(
        &self,
        kind: ResourceKind,
        read: Arc<Resource>,
        status: Option<String>,
        derived: Value,
        modified: f64,
    ) -> StoreResult<StateWrite> {
        self.refused_by_a_test()?;
        let cache = self.cache.clone();
        self.call(move |c| {
            let Some(now) = get(c, kind, &read.name)? else {
                cache.forget(kind, &read.name);
                return Ok(StateWrite::Gone);
            };
            if now.status != read.status
                || now.modified != read.modified
                || now.derived != read.derived
            {
                cache.put(kind, Arc::new(now));
                return Ok(StateWrite::Changed);
            }
            write_state(
                c,
                &cache,
                kind,
                &read.name,
                status.as_deref(),
                &derived,
                modified,
            )?;
            Ok(StateWrite::Written)
        })
        .await
    }

    /// Deletes the resource and its tags. Returns whether it existed.
    pub async fn delete_resource(&self, kind: ResourceKind, name: &str) -> StoreResult<bool> {
        let cache = self.cache.clone();
        let name = name.to_string();
        self.call(move |c| {
            let existed = delete(c, kind, &name)?;
            cache.forget(kind, &name);
            Ok(existed)
        })
        .await
    }

    /// One page in the requested order (see `list`).
    pub async fn list_resources(
        &self,
        kind: ResourceKind,
        q: ListQuery,
    ) -> StoreResult<Vec<Resource>> {
        self.call(move |c| list(c, kind, &q, false)).await
    }

    /// The same page without the rows' JSON documents (`request` and `derived` are Null): for
    /// summaries made of the name, ARN, status and times alone.
    pub async fn list_bare_resources(
        &self,
        kind: ResourceKind,
        q: ListQuery,
    ) -> StoreResult<Vec<Resource>> {
        self.call(move |c| list(c, kind, &q, true)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut c).unwrap();
        c
    }

    fn model(name: &str, created: f64) -> Resource {
        Resource {
            name: name.into(),
            arn: format!(
                "arn:aws:sagemaker:us-east-1:000000000000:model/{}",
                name.to_lowercase()
            ),
            status: None,
            created,
            modified: created,
            request: serde_json::json!({"ModelName": name}),
            derived: serde_json::json!({}),
        }
    }

    fn query(sort: SortKey, descending: bool, after: Option<Cursor>, limit: usize) -> ListQuery {
        ListQuery {
            name_contains: None,
            created_after: None,
            created_before: None,
            status_equals: None,
            sort,
            descending,
            after,
            limit,
        }
    }

    #[test]
    fn names_are_unique_without_regard_to_case() {
        let c = store();
        insert(&c, ResourceKind::Model, &model("Abc", 1.0)).unwrap();
        let dup = insert(&c, ResourceKind::Model, &model("aBC", 2.0));
        assert!(matches!(dup, Err(StoreError::AlreadyExists)));
        assert_eq!(
            get(&c, ResourceKind::Model, "abc").unwrap().unwrap().name,
            "Abc"
        );
    }

    #[test]
    fn pages_by_creation_time_continue_after_the_cursor() {
        let c = store();
        for (i, n) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            // b and c share a timestamp: the name breaks the tie.
            let t = if *n == "c" { 2.0 } else { 1.0 + i as f64 };
            insert(&c, ResourceKind::Model, &model(n, t)).unwrap();
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = list(
                &c,
                ResourceKind::Model,
                &query(SortKey::CreationTime, true, after, 2),
                false,
            )
            .unwrap();
            let more = page.len() > 2;
            let page: Vec<_> = page.into_iter().take(2).collect();
            let last = page.last().cloned();
            seen.extend(page.into_iter().map(|r| r.name));
            match (more, last) {
                (true, Some(l)) => after = Some(Cursor::Created(l.created, l.name)),
                _ => break,
            }
        }
        assert_eq!(seen, ["e", "d", "c", "b", "a"]);
    }

    #[test]
    fn name_contains_filters_case_insensitively() {
        let c = store();
        insert(&c, ResourceKind::Model, &model("Alpha-1", 1.0)).unwrap();
        insert(&c, ResourceKind::Model, &model("beta", 2.0)).unwrap();
        let mut q = query(SortKey::Name, false, None, 10);
        q.name_contains = Some("ALPHA".into());
        let names: Vec<_> = list(&c, ResourceKind::Model, &q, false)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["Alpha-1"]);
    }

    #[test]
    fn bare_rows_carry_the_columns_without_the_documents() {
        let c = store();
        insert(&c, ResourceKind::Model, &model("m-1", 1.0)).unwrap();
        insert(&c, ResourceKind::Model, &model("m-2", 2.0)).unwrap();
        let q = query(SortKey::CreationTime, true, None, 10);
        let full = list(&c, ResourceKind::Model, &q, false).unwrap();
        let bare = list(&c, ResourceKind::Model, &q, true).unwrap();
        assert_eq!(bare.len(), 2);
        for (f, b) in full.iter().zip(&bare) {
            assert_eq!((&f.name, &f.arn, &f.status), (&b.name, &b.arn, &b.status));
            assert_eq!((f.created, f.modified), (b.created, b.modified));
            assert!(b.request.is_null() && b.derived.is_null());
        }
        assert_eq!(bare[0].name, "m-2", "the same order as the full rows");
    }
}
