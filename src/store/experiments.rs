//! Experiments' own rows: associations between resources by ARN (a trial component and the
//! trials it belongs to; lineage edges between artifacts, actions and contexts), and the metric
//! values logged against trial components (the SageMaker Metrics API).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub source: String,
    pub destination: String,
    pub kind: Option<String>,
    pub created: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub timestamp: f64,
    pub step: Option<i64>,
    pub value: f64,
}

impl Store {
    /// Adds an edge; an edge already there is `AlreadyExists`.
    pub async fn associate(&self, a: Association) -> StoreResult<()> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO associations (source, destination, type, created) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![a.source, a.destination, a.kind, a.created])
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    StoreError::AlreadyExists
                }
                _ => e.into(),
            })?;
            Ok(())
        })
        .await
    }

    /// Removes an edge. Returns whether it existed.
    pub async fn dissociate(&self, source: &str, destination: &str) -> StoreResult<bool> {
        let (s, d) = (source.to_string(), destination.to_string());
        self.call(move |c| {
            let n = c
                .prepare_cached("DELETE FROM associations WHERE source = ?1 AND destination = ?2")?
                .execute([&s, &d])?;
            Ok(n > 0)
        })
        .await
    }

    /// Removes every edge touching an ARN (the resource is gone).
    pub async fn dissociate_all(&self, arn: &str) -> StoreResult<()> {
        let arn = arn.to_string();
        self.call(move |c| {
            c.prepare_cached("DELETE FROM associations WHERE source = ?1 OR destination = ?1")?
                .execute([&arn])?;
            Ok(())
        })
        .await
    }

    /// Edges from `source` (any when None) to `destination` (any when None), oldest first.
    pub async fn associations(
        &self,
        source: Option<&str>,
        destination: Option<&str>,
    ) -> StoreResult<Vec<Association>> {
        let (s, d) = (source.map(str::to_string), destination.map(str::to_string));
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT source, destination, type, created FROM associations
                 WHERE (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR destination = ?2)
                 ORDER BY created, source, destination",
            )?;
            let rows = stmt.query_map(params![s, d], |r| {
                Ok(Association {
                    source: r.get(0)?,
                    destination: r.get(1)?,
                    kind: r.get(2)?,
                    created: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn association(
        &self,
        source: &str,
        destination: &str,
    ) -> StoreResult<Option<Association>> {
        let (s, d) = (source.to_string(), destination.to_string());
        self.call(move |c| {
            Ok(c.prepare_cached(
                "SELECT source, destination, type, created FROM associations
                 WHERE source = ?1 AND destination = ?2",
            )?
            .query_row([&s, &d], |r| {
                Ok(Association {
                    source: r.get(0)?,
                    destination: r.get(1)?,
                    kind: r.get(2)?,
                    created: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    /// Appends metric values logged against a trial component, in one transaction.
    pub async fn put_trial_metrics(
        &self,
        component: &str,
        points: Vec<MetricPoint>,
    ) -> StoreResult<()> {
        let component = component.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO trial_metrics (component, name, timestamp, step, value)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for p in &points {
                    stmt.execute(params![component, p.name, p.timestamp, p.step, p.value])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// A trial component's metric values (one metric when named), in time order.
    pub async fn trial_metrics(
        &self,
        component: &str,
        name: Option<&str>,
    ) -> StoreResult<Vec<MetricPoint>> {
        let (component, name) = (component.to_string(), name.map(str::to_string));
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, timestamp, step, value FROM trial_metrics
                 WHERE component = ?1 AND (?2 IS NULL OR name = ?2)
                 ORDER BY name, timestamp, rowid",
            )?;
            let rows = stmt.query_map(params![component, name], |r| {
                Ok(MetricPoint {
                    name: r.get(0)?,
                    timestamp: r.get(1)?,
                    step: r.get(2)?,
                    value: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn delete_trial_metrics(&self, component: &str) -> StoreResult<()> {
        let component = component.to_string();
        self.call(move |c| {
            c.prepare_cached("DELETE FROM trial_metrics WHERE component = ?1")?
                .execute([&component])?;
            Ok(())
        })
        .await
    }
}
