//! The offline store: every record a feature group takes (and a marker row for each delete)
//! is appended, as SageMaker does, to Parquet files in the group's S3 location, written through
//! sagebox's own object store. Rows wait in memory briefly and go out together — each second,
//! as soon as a batch reaches `MAX_BATCH` rows, and when the server stops — so a bulk ingest
//! makes a few files rather than one per record (SageMaker buffers for up to 15 minutes).
//!
//! Files follow SageMaker's layout under ResolvedOutputS3Uri: partitioned by the event time's
//! `year=/month=/day=/hour=`, named after the newest event time in the file plus 16 random
//! characters, with the group's features as columns and then `write_time`,
//! `api_invocation_time` (timestamps) and `is_deleted` (boolean).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use super::parquet::{self, Cell, Column, ColumnType};
use crate::service::objects::Objects;

/// A batch this large is written at once instead of waiting for the next tick.
pub const MAX_BATCH: usize = 1000;
/// How long a row waits at most before its file is written.
const TICK: Duration = Duration::from_secs(1);

/// Where a batch goes and what its columns are: rows of one group with one schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub group: String,
    pub bucket: String,
    /// The key prefix of ResolvedOutputS3Uri (ends in `/data`).
    pub prefix: String,
    /// The feature columns, in definition order.
    pub columns: Vec<(String, ColumnType)>,
}

/// One row: a cell per feature column, and what Feature Store adds.
#[derive(Debug, Clone)]
pub struct OfflineRow {
    pub cells: Vec<Cell>,
    /// Partitions the files and names them (epoch seconds).
    pub event_time: f64,
    pub api_invocation_time: f64,
    pub is_deleted: bool,
}

/// Rows waiting to be written, by destination.
#[derive(Clone, Default)]
pub struct OfflineBuffer {
    pending: Arc<Mutex<HashMap<Destination, Vec<OfflineRow>>>>,
    /// Set once the ticking writer runs.
    ticking: Arc<OnceLock<()>>,
}

impl OfflineBuffer {
    /// Queues a row; starts the writer on first use and writes a full batch at once.
    pub fn append(&self, objects: &Objects, dest: Destination, row: OfflineRow) {
        if self.ticking.set(()).is_ok() {
            let (buffer, objects) = (self.clone(), objects.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(TICK).await;
                    buffer.flush(&objects).await;
                }
            });
        }
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let rows = pending.entry(dest.clone()).or_default();
            rows.push(row);
            if rows.len() >= MAX_BATCH {
                pending.remove(&dest).map(|rows| (dest, rows))
            } else {
                None
            }
        };
        if let Some((dest, rows)) = full {
            let objects = objects.clone();
            tokio::spawn(async move { write_batch(&objects, &dest, rows).await });
        }
    }

    /// Writes every waiting row now (each tick, and when the server stops).
    pub async fn flush(&self, objects: &Objects) {
        let batches: Vec<_> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        for (dest, rows) in batches {
            write_batch(objects, &dest, rows).await;
        }
    }
}

/// Writes one file per event-time hour. A failure is logged with the group's name: the online
/// store already holds the records, and SageMaker too reports offline write failures only in
/// its logs.
async fn write_batch(objects: &Objects, dest: &Destination, rows: Vec<OfflineRow>) {
    let write_time = crate::aws::time::now_millis();
    let mut by_hour: BTreeMap<String, Vec<OfflineRow>> = BTreeMap::new();
    for row in rows {
        by_hour
            .entry(partition(row.event_time))
            .or_default()
            .push(row);
    }
    for (hour, rows) in by_hour {
        let newest = rows.iter().map(|r| r.event_time).fold(f64::MIN, f64::max);
        // the prefix is never empty: it always ends in `.../offline-store/<group>/data`
        let key = format!(
            "{}/{hour}/{}_{}.parquet",
            dest.prefix,
            file_stamp(newest),
            random_suffix()
        );
        let written = match parquet::write(&columns(dest, &rows, write_time)) {
            Ok(bytes) => objects
                .put_bytes(&dest.bucket, &key, Bytes::from(bytes), Default::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => tracing::debug!(group = dest.group, key, "offline store file written"),
            Err(e) => tracing::warn!(
                group = dest.group,
                bucket = dest.bucket,
                key,
                "could not write the feature group's offline store file: {e}"
            ),
        }
    }
}

/// The file's columns: the features, then write_time, api_invocation_time and is_deleted.
fn columns(dest: &Destination, rows: &[OfflineRow], write_time: i64) -> Vec<Column> {
    let mut out: Vec<Column> = dest
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| Column {
            name: name.clone(),
            kind: *kind,
            cells: rows
                .iter()
                .map(|r| r.cells.get(i).cloned().unwrap_or(Cell::Null))
                .collect(),
        })
        .collect();
    let millis = |t: f64| Cell::TimestampMillis((t * 1000.0).round() as i64);
    out.push(Column {
        name: "write_time".into(),
        kind: ColumnType::TimestampMillis,
        cells: vec![Cell::TimestampMillis(write_time); rows.len()],
    });
    out.push(Column {
        name: "api_invocation_time".into(),
        kind: ColumnType::TimestampMillis,
        cells: rows.iter().map(|r| millis(r.api_invocation_time)).collect(),
    });
    out.push(Column {
        name: "is_deleted".into(),
        kind: ColumnType::Boolean,
        cells: rows.iter().map(|r| Cell::Boolean(r.is_deleted)).collect(),
    });
    out
}

/// `year=2026/month=11/day=24/hour=19` for an event time.
fn partition(event_time: f64) -> String {
    let iso = crate::aws::time::iso8601(event_time);
    format!(
        "year={}/month={}/day={}/hour={}",
        &iso[..4],
        &iso[5..7],
        &iso[8..10],
        &iso[11..13]
    )
}

/// `20261124T190042Z` for an event time.
fn file_stamp(event_time: f64) -> String {
    crate::aws::time::iso8601(event_time).replace(['-', ':'], "")
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
        .flatten()
        .take(16)
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_partitioned_and_named_by_event_time() {
        assert_eq!(
            partition(1_700_000_000.0),
            "year=2023/month=11/day=14/hour=22"
        );
        assert_eq!(file_stamp(1_700_000_000.9), "20231114T221320Z");
        let s = random_suffix();
        assert!(s.len() == 16 && s.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn rows_become_feature_columns_then_the_added_ones() {
        let dest = Destination {
            group: "fg".into(),
            bucket: "b".into(),
            prefix: "p/data".into(),
            columns: vec![("id".into(), ColumnType::Utf8)],
        };
        let rows = vec![OfflineRow {
            cells: vec![Cell::Utf8("a".into())],
            event_time: 1.0,
            api_invocation_time: 2.5,
            is_deleted: true,
        }];
        let cols = columns(&dest, &rows, 7);
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "write_time", "api_invocation_time", "is_deleted"]
        );
        assert_eq!(cols[1].cells, [Cell::TimestampMillis(7)]);
        assert_eq!(cols[2].cells, [Cell::TimestampMillis(2500)]);
        assert_eq!(cols[3].cells, [Cell::Boolean(true)]);
    }
}
