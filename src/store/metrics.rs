//! CloudWatch metrics tables (migration 10): one `metrics` row per distinct metric (namespace,
//! name, dimension set) and one `metric_data` row per datum PutMetricData accepted.
//!
//! A metric's dimensions are stored as canonical JSON (`[[name, value], …]` sorted by name), so
//! the same dimension set always finds the same row whatever order a client sent it in. A datum
//! keeps its statistic set (sample count, sum, minimum, maximum) and, when the values themselves
//! are known, their distribution (`[[value, count], …]`) for percentiles. Times are epoch seconds.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreResult};

/// A metric's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
}

/// One datum as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub timestamp: f64,
    pub unit: String,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// `(value, count)` pairs when the values are known.
    pub distribution: Option<Vec<(f64, f64)>>,
}

/// A listed metric with its place in the listing order (the pagination key).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedMetric {
    pub id: i64,
    pub key: MetricKey,
}

/// What ListMetrics filters on; dimension filters are applied by the caller.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Only metrics with a datum put at or after this time.
    pub active_since: Option<f64>,
    /// Only metrics listed after this id.
    pub after: Option<i64>,
}

fn dimensions_json(dims: &[(String, String)]) -> String {
    serde_json::to_string(dims).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Stores a batch of data in one transaction, creating metrics on first use.
    pub async fn put_metric_data(
        &self,
        batch: Vec<(MetricKey, Datum)>,
        now: f64,
    ) -> StoreResult<()> {
        self.call(move |c| {
            let tx = c.transaction()?;
            for (key, datum) in &batch {
                let id = metric_id_for_put(&tx, key, now)?;
                let distribution = match &datum.distribution {
                    Some(d) => Some(serde_json::to_string(d)?),
                    None => None,
                };
                tx.prepare_cached(
                    "INSERT INTO metric_data (metric_id, timestamp, unit, sample_count, sum, \
                     minimum, maximum, distribution) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    id,
                    datum.timestamp,
                    datum.unit,
                    datum.sample_count,
                    datum.sum,
                    datum.minimum,
                    datum.maximum,
                    distribution
                ])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The data of one metric with `start <= timestamp < end`, oldest first.
    pub async fn metric_data(
        &self,
        key: MetricKey,
        start: f64,
        end: f64,
    ) -> StoreResult<Vec<Datum>> {
        self.call(move |c| {
            let dims = dimensions_json(&key.dimensions);
            let id: Option<i64> = c
                .prepare_cached(
                    "SELECT id FROM metrics WHERE namespace = ?1 AND name = ?2 AND dimensions = ?3",
                )?
                .query_row(params![key.namespace, key.name, dims], |r| r.get(0))
                .optional()?;
            let Some(id) = id else {
                return Ok(Vec::new());
            };
            let mut stmt = c.prepare_cached(
                "SELECT timestamp, unit, sample_count, sum, minimum, maximum, distribution \
                 FROM metric_data WHERE metric_id = ?1 AND timestamp >= ?2 AND timestamp < ?3 \
                 ORDER BY timestamp",
            )?;
            let rows = stmt.query_map(params![id, start, end], |r| {
                Ok((
                    Datum {
                        timestamp: r.get(0)?,
                        unit: r.get(1)?,
                        sample_count: r.get(2)?,
                        sum: r.get(3)?,
                        minimum: r.get(4)?,
                        maximum: r.get(5)?,
                        distribution: None,
                    },
                    r.get::<_, Option<String>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (mut datum, distribution) = row?;
                if let Some(d) = distribution {
                    datum.distribution = Some(serde_json::from_str(&d)?);
                }
                out.push(datum);
            }
            Ok(out)
        })
        .await
    }

    /// Metrics in listing order (creation order) that match `filter`, at most `limit`.
    /// `keep` applies the caller's further filters before the limit counts.
    pub async fn list_metrics(
        &self,
        filter: MetricFilter,
        limit: usize,
        keep: impl Fn(&MetricKey) -> bool + Send + 'static,
    ) -> StoreResult<Vec<ListedMetric>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, namespace, name, dimensions FROM metrics \
                 WHERE id > ?1 AND (?2 IS NULL OR namespace = ?2) AND (?3 IS NULL OR name = ?3) \
                 AND (?4 IS NULL OR last_put >= ?4) ORDER BY id",
            )?;
            let rows = stmt.query_map(
                params![
                    filter.after.unwrap_or(0),
                    filter.namespace,
                    filter.name,
                    filter.active_since
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (id, namespace, name, dims) = row?;
                let key = MetricKey {
                    namespace,
                    name,
                    dimensions: serde_json::from_str(&dims)?,
                };
                if keep(&key) {
                    out.push(ListedMetric { id, key });
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

fn metric_id_for_put(c: &Connection, key: &MetricKey, now: f64) -> StoreResult<i64> {
    let dims = dimensions_json(&key.dimensions);
    let id = c
        .prepare_cached(
            "INSERT INTO metrics (namespace, name, dimensions, last_put) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (namespace, name, dimensions) DO UPDATE SET last_put = MAX(last_put, ?4) \
             RETURNING id",
        )?
        .query_row(params![key.namespace, key.name, dims, now], |r| r.get(0))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, dims: &[(&str, &str)]) -> MetricKey {
        MetricKey {
            namespace: ns.into(),
            name: "m".into(),
            dimensions: dims
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    fn datum(t: f64, v: f64) -> Datum {
        Datum {
            timestamp: t,
            unit: "None".into(),
            sample_count: 1.0,
            sum: v,
            minimum: v,
            maximum: v,
            distribution: Some(vec![(v, 1.0)]),
        }
    }

    #[tokio::test]
    async fn data_round_trips_by_metric_and_time_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        let a = key("ns", &[("A", "1")]);
        store
            .put_metric_data(
                vec![
                    (a.clone(), datum(10.0, 1.0)),
                    (a.clone(), datum(20.0, 2.0)),
                    (key("ns", &[("A", "2")]), datum(15.0, 9.0)),
                ],
                100.0,
            )
            .await
            .unwrap();
        let got = store.metric_data(a.clone(), 10.0, 20.0).await.unwrap();
        assert_eq!(got, vec![datum(10.0, 1.0)]);
        let listed = store
            .list_metrics(MetricFilter::default(), 10, |_| true)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        let after = store
            .list_metrics(
                MetricFilter {
                    after: Some(listed[0].id),
                    active_since: Some(100.0),
                    ..Default::default()
                },
                10,
                |_| true,
            )
            .await
            .unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].key, key("ns", &[("A", "2")]));
    }
}
