//! CloudWatch metrics: PutMetricData's rules (namespaces, value forms, timestamps), and the
//! queries over the stored data (GetMetricStatistics, GetMetricData, ListMetrics). Requests
//! arrive as the generated typed inputs, already checked against the model; answers are
//! service-owned types the api layer renders in whichever protocol the client spoke.
//!
//! Training jobs publish their metrics here too (see `publish`).

mod data;
pub mod publish;
pub mod stats;

use crate::aws::model::typed::cloudwatch::{
    Dimension, DimensionFilter, ListMetricsInput, MetricDatum, PutMetricDataInput,
};
use crate::aws::time::now_epoch;
use crate::service::Services;
use crate::store::StoreError;
use crate::store::metrics::{Datum, MetricFilter, MetricKey};

pub use data::{MetricDataAnswer, MetricDataResult, StatisticsAnswer, StatisticsPoint};
pub use stats::Stat;

/// CloudWatch's error kinds, by their query error codes.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// `InvalidParameterValue`.
    #[error("{0}")]
    InvalidValue(String),
    /// `InvalidParameterCombination`.
    #[error("{0}")]
    Combination(String),
    /// `MissingParameter`.
    #[error("{0}")]
    Missing(String),
    /// `InvalidNextToken`.
    #[error("{0}")]
    NextToken(String),
    /// `InternalServiceError`.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for MetricsError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "metrics store failure");
        MetricsError::Internal(e.to_string())
    }
}

pub type MetricsResult<T> = Result<T, MetricsError>;

/// The namespace sagebox's training jobs publish under, as SageMaker does.
pub const TRAINING_NAMESPACE: &str = "/aws/sagemaker/TrainingJobs";

/// How far back and ahead of now PutMetricData accepts timestamps (two weeks, two hours).
const OLDEST: f64 = 14.0 * 86_400.0;
const NEWEST: f64 = 2.0 * 3_600.0;
/// Limits AWS documents for one PutMetricData call.
const MAX_DATA: usize = 1000;
const MAX_VALUES: usize = 150;
/// ListMetrics answers at most this many metrics per page.
const LIST_PAGE: usize = 500;
/// Values CloudWatch accepts lie within ±2^360.
const VALUE_LIMIT: f64 = 2.348_542_582_773_833_2e108;

/// A page of ListMetrics.
#[derive(Debug, Clone)]
pub struct MetricList {
    pub metrics: Vec<MetricKey>,
    pub next_token: Option<String>,
}

/// A metric's identity from its namespace, name and dimensions, dimensions sorted by name.
pub fn metric_key(namespace: &str, name: &str, dims: Option<&Vec<Dimension>>) -> MetricKey {
    let mut dimensions: Vec<(String, String)> = dims
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d.name.clone().unwrap_or_default(),
                d.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    dimensions.sort();
    MetricKey {
        namespace: namespace.to_string(),
        name: name.to_string(),
        dimensions,
    }
}

impl Services {
    /// PutMetricData: every datum is checked before any is stored, and all are stored in one
    /// transaction.
    pub async fn put_metric_data(&self, input: PutMetricDataInput) -> MetricsResult<()> {
        let namespace = input.namespace.unwrap_or_default();
        if namespace.starts_with("AWS/") {
            return Err(MetricsError::InvalidValue(format!(
                "The value {namespace} for parameter Namespace is invalid."
            )));
        }
        let mut all: Vec<MetricDatum> = input.metric_data.unwrap_or_default();
        for entity in input.entity_metric_data.unwrap_or_default() {
            all.extend(entity.metric_data.unwrap_or_default());
        }
        if all.len() > MAX_DATA {
            return Err(MetricsError::InvalidValue(format!(
                "The collection MetricData must not have a size greater than {MAX_DATA}."
            )));
        }
        let now = now_epoch();
        let mut batch = Vec::with_capacity(all.len());
        for (i, d) in all.iter().enumerate() {
            let datum = datum_of(d, i + 1, now)?;
            let key = metric_key(
                &namespace,
                d.metric_name.as_deref().unwrap_or(""),
                d.dimensions.as_ref(),
            );
            batch.push((key, datum));
        }
        self.store.put_metric_data(batch, now).await?;
        Ok(())
    }

    /// Stores data sagebox itself produced (a training job's metrics), skipping the request
    /// checks a client's data goes through.
    pub async fn publish_metric_data(&self, batch: Vec<(MetricKey, Datum)>) -> MetricsResult<()> {
        self.store.put_metric_data(batch, now_epoch()).await?;
        Ok(())
    }

    /// ListMetrics: namespace, name and dimension filters (a filter without a value matches any
    /// value of that dimension), RecentlyActive PT3H, pages of 500.
    pub async fn list_metrics(&self, input: ListMetricsInput) -> MetricsResult<MetricList> {
        let after = match input.next_token.as_deref() {
            None => None,
            Some(t) => Some(decode_list_token(t)?),
        };
        let filter = MetricFilter {
            namespace: input.namespace,
            name: input.metric_name,
            active_since: input.recently_active.map(|_| now_epoch() - 3.0 * 3_600.0),
            after,
        };
        let wanted: Vec<DimensionFilter> = input.dimensions.unwrap_or_default();
        let keep = move |k: &MetricKey| {
            wanted.iter().all(|f| {
                k.dimensions.iter().any(|(n, v)| {
                    Some(n) == f.name.as_ref() && f.value.as_ref().is_none_or(|want| want == v)
                })
            })
        };
        let mut page = self.store.list_metrics(filter, LIST_PAGE + 1, keep).await?;
        let next_token = if page.len() > LIST_PAGE {
            page.truncate(LIST_PAGE);
            page.last().map(|m| list_token(m.id))
        } else {
            None
        };
        Ok(MetricList {
            metrics: page.into_iter().map(|m| m.key).collect(),
            next_token,
        })
    }
}

fn list_token(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("sagebox-metrics:{id}"))
}

fn decode_list_token(token: &str) -> MetricsResult<i64> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sagebox-metrics:")?.parse().ok())
        .ok_or_else(|| MetricsError::InvalidValue(format!("Invalid nextToken: {token}")))
}

/// One MetricDatum as stored, or the error AWS gives for it (`n` counts from 1, as the query
/// protocol's member numbers do, and AWS's messages name them so).
fn datum_of(d: &MetricDatum, n: usize, now: f64) -> MetricsResult<Datum> {
    let at = |member: &str| format!("MetricData.member.{n}.{member}");
    let both = |a: &str, b: &str| {
        MetricsError::Combination(format!(
            "The parameters {} and {} are mutually exclusive and you have specified both.",
            at(a),
            at(b)
        ))
    };
    let timestamp = d.timestamp.map_or(now, |t| t.0);
    if timestamp < now - OLDEST {
        return Err(MetricsError::InvalidValue(format!(
            "The parameter {} must specify a time no more than two weeks in the past.",
            at("Timestamp")
        )));
    }
    if timestamp > now + NEWEST {
        return Err(MetricsError::InvalidValue(format!(
            "The parameter {} must specify a time no more than two hours in the future.",
            at("Timestamp")
        )));
    }
    let unit = d
        .unit
        .map_or_else(|| "None".to_string(), |u| u.as_str().to_string());
    let check = |v: f64, member: &str| {
        if v.is_finite() && v.abs() <= VALUE_LIMIT {
            Ok(v)
        } else {
            Err(MetricsError::InvalidValue(format!(
                "The value {v} for parameter {} is invalid.",
                at(member)
            )))
        }
    };
    let (sample_count, sum, minimum, maximum, distribution) = match (
        d.value,
        &d.values,
        &d.statistic_values,
    ) {
        (Some(_), Some(_), _) => return Err(both("Value", "Values")),
        (Some(_), _, Some(_)) => return Err(both("Value", "StatisticValues")),
        (_, Some(_), Some(_)) => return Err(both("Values", "StatisticValues")),
        (Some(v), None, None) => {
            let v = check(v, "Value")?;
            (1.0, v, v, v, Some(vec![(v, 1.0)]))
        }
        (None, Some(values), None) => values_of(values, d.counts.as_ref(), &at)?,
        (None, None, Some(set)) => {
            let sc = check(
                set.sample_count.unwrap_or_default(),
                "StatisticValues.SampleCount",
            )?;
            let sum = check(set.sum.unwrap_or_default(), "StatisticValues.Sum")?;
            let min = check(set.minimum.unwrap_or_default(), "StatisticValues.Minimum")?;
            let max = check(set.maximum.unwrap_or_default(), "StatisticValues.Maximum")?;
            if sc <= 0.0 || min > max {
                return Err(MetricsError::InvalidValue(format!(
                    "The parameter {} must have a positive SampleCount and a Minimum no greater than its Maximum.",
                    at("StatisticValues")
                )));
            }
            (sc, sum, min, max, None)
        }
        (None, None, None) => {
            return Err(MetricsError::Missing(format!(
                "One of the parameters {}, {} or {} must be specified.",
                at("Value"),
                at("Values"),
                at("StatisticValues")
            )));
        }
    };
    Ok(Datum {
        timestamp,
        unit,
        sample_count,
        sum,
        minimum,
        maximum,
        distribution,
    })
}

type Summary = (f64, f64, f64, f64, Option<Vec<(f64, f64)>>);

/// `Values` with their `Counts` (each 1 when absent) as a statistic set and distribution.
fn values_of(
    values: &[f64],
    counts: Option<&Vec<f64>>,
    at: &dyn Fn(&str) -> String,
) -> MetricsResult<Summary> {
    if values.len() > MAX_VALUES {
        return Err(MetricsError::InvalidValue(format!(
            "The collection {} must not have a size greater than {MAX_VALUES}.",
            at("Values")
        )));
    }
    if values.is_empty() {
        return Err(MetricsError::Missing(format!(
            "The parameter {} must not be empty.",
            at("Values")
        )));
    }
    if let Some(c) = counts
        && c.len() != values.len()
    {
        return Err(MetricsError::InvalidValue(format!(
            "The parameters {} and {} must be of the same size.",
            at("Values"),
            at("Counts")
        )));
    }
    let mut dist = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let c = counts.map_or(1.0, |c| c[i]);
        if !v.is_finite() || v.abs() > VALUE_LIMIT || !c.is_finite() || c < 0.0 {
            return Err(MetricsError::InvalidValue(format!(
                "The value {v} for parameter {}.member.{} is invalid.",
                at("Values"),
                i + 1
            )));
        }
        dist.push((*v, c));
    }
    let sample_count: f64 = dist.iter().map(|(_, c)| c).sum();
    let sum: f64 = dist.iter().map(|(v, c)| v * c).sum();
    let counted = dist.iter().filter(|(_, c)| *c > 0.0);
    let minimum = counted
        .clone()
        .map(|(v, _)| *v)
        .fold(f64::INFINITY, f64::min);
    let maximum = counted.map(|(v, _)| *v).fold(f64::NEG_INFINITY, f64::max);
    if sample_count <= 0.0 {
        return Err(MetricsError::InvalidValue(format!(
            "The parameter {} must count at least one value.",
            at("Counts")
        )));
    }
    Ok((sample_count, sum, minimum, maximum, Some(dist)))
}
