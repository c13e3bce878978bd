//! The two read operations over metric data: GetMetricStatistics (statistics per period for one
//! metric) and GetMetricData (one series per query, paged by MaxDatapoints and NextToken).

use crate::aws::model::typed::cloudwatch::{
    GetMetricDataInput, GetMetricStatisticsInput, MetricDataQuery, ScanBy,
};
use crate::aws::time::now_epoch;
use crate::service::Services;
use crate::store::metrics::MetricKey;

use super::stats::{Bucket, Stat, aligned_start, buckets};
use super::{MetricsError, MetricsResult, metric_key};

/// GetMetricStatistics' answer: its label (the metric name) and one point per period and unit.
#[derive(Debug, Clone)]
pub struct StatisticsAnswer {
    pub label: String,
    pub points: Vec<StatisticsPoint>,
}

#[derive(Debug, Clone)]
pub struct StatisticsPoint {
    pub timestamp: f64,
    pub unit: String,
    /// The requested statistics this period could give, in the order asked.
    pub values: Vec<(Stat, f64)>,
}

/// One query's series.
#[derive(Debug, Clone)]
pub struct MetricDataResult {
    pub id: String,
    pub label: String,
    pub timestamps: Vec<f64>,
    pub values: Vec<f64>,
    /// `false`: more points wait behind NextToken (`PartialData`).
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct MetricDataAnswer {
    pub results: Vec<MetricDataResult>,
    pub next_token: Option<String>,
}

/// GetMetricStatistics may answer at most this many points.
const MAX_POINTS: i64 = 1440;
/// GetMetricData's MaxDatapoints when the request gives none.
const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;
const MAX_QUERIES: usize = 500;

fn invalid(value: impl std::fmt::Display, parameter: &str) -> MetricsError {
    MetricsError::InvalidValue(format!(
        "The value {value} for parameter {parameter} is invalid."
    ))
}

/// Periods of 1, 5, 10 and 30 seconds are high resolution; anything longer is whole minutes.
fn check_period(period: i64, parameter: &str) -> MetricsResult<()> {
    if period >= 60 && period % 60 == 0 || matches!(period, 1 | 5 | 10 | 30) {
        Ok(())
    } else {
        Err(MetricsError::InvalidValue(format!(
            "The parameter {parameter} must be 1, 5, 10, 30, or a multiple of 60."
        )))
    }
}

fn check_range(start: f64, end: f64) -> MetricsResult<()> {
    if start < end {
        Ok(())
    } else {
        Err(MetricsError::InvalidValue(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        ))
    }
}

impl Services {
    pub async fn get_metric_statistics(
        &self,
        input: GetMetricStatisticsInput,
    ) -> MetricsResult<StatisticsAnswer> {
        let mut wanted: Vec<Stat> = Vec::new();
        let basic = input.statistics.unwrap_or_default();
        let extended = input.extended_statistics.unwrap_or_default();
        if basic.is_empty() == extended.is_empty() {
            return Err(MetricsError::Combination(
                "Must specify either Statistics or ExtendedStatistics, but not both.".into(),
            ));
        }
        for s in &basic {
            wanted.extend(Stat::parse(s.as_str()));
        }
        for (i, s) in extended.iter().enumerate() {
            match Stat::parse(s) {
                Some(p @ Stat::Percentile(..)) => wanted.push(p),
                _ => return Err(invalid(s, &format!("ExtendedStatistics.member.{}", i + 1))),
            }
        }
        let period = input.period.unwrap_or_default();
        check_period(period, "Period")?;
        let (start, end) = (
            input.start_time.unwrap_or_default().0,
            input.end_time.unwrap_or_default().0,
        );
        check_range(start, end)?;
        let start = aligned_start(start, period, now_epoch());
        let requested = ((end - start) / period as f64).ceil() as i64;
        if requested > MAX_POINTS {
            return Err(MetricsError::Combination(format!(
                "You have requested up to {} datapoints, which exceeds the limit of {}. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
                thousands(requested),
                thousands(MAX_POINTS)
            )));
        }
        let name = input.metric_name.unwrap_or_default();
        let key = metric_key(
            &input.namespace.unwrap_or_default(),
            &name,
            input.dimensions.as_ref(),
        );
        let data = self.store.metric_data(key, start, end).await?;
        let unit = input.unit.map(|u| u.as_str().to_string());
        let data: Vec<_> = data
            .into_iter()
            .filter(|d| unit.as_ref().is_none_or(|u| *u == d.unit))
            .collect();
        let points = buckets(&data, start, period as f64)
            .into_iter()
            .map(|b| StatisticsPoint {
                timestamp: b.start,
                values: wanted
                    .iter()
                    .filter_map(|s| b.stat(s).map(|v| (s.clone(), v)))
                    .collect(),
                unit: b.unit,
            })
            .collect();
        Ok(StatisticsAnswer {
            label: name,
            points,
        })
    }

    pub async fn get_metric_data(
        &self,
        input: GetMetricDataInput,
    ) -> MetricsResult<MetricDataAnswer> {
        let queries = input.metric_data_queries.unwrap_or_default();
        if queries.len() > MAX_QUERIES {
            return Err(MetricsError::InvalidValue(format!(
                "The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )));
        }
        let (start, end) = (
            input.start_time.unwrap_or_default().0,
            input.end_time.unwrap_or_default().0,
        );
        check_range(start, end)?;
        let plans = plan_queries(&queries)?;
        let offset = match input.next_token.as_deref() {
            None => 0,
            Some(t) => decode_data_token(t)?,
        };
        let max = input
            .max_datapoints
            .unwrap_or(DEFAULT_MAX_DATAPOINTS)
            .max(1) as usize;
        let descending = input.scan_by != Some(ScanBy::TimestampAscending);
        let now = now_epoch();
        let mut results = Vec::new();
        for plan in plans.into_iter().filter(|p| p.return_data) {
            let qstart = aligned_start(start, plan.period, now);
            let data = self
                .store
                .metric_data(plan.key.clone(), qstart, end)
                .await?;
            let data: Vec<_> = data
                .into_iter()
                .filter(|d| plan.unit.as_ref().is_none_or(|u| *u == d.unit))
                .collect();
            let mut series: Vec<(f64, f64)> = merged_by_period(&data, qstart, plan.period)
                .iter()
                .filter_map(|b| b.stat(&plan.stat).map(|v| (b.start, v)))
                .collect();
            if descending {
                series.reverse();
            }
            results.push((plan, series));
        }
        Ok(page_results(results, offset, max))
    }
}

/// A period's data regardless of unit: GetMetricData answers one value per timestamp.
fn merged_by_period(data: &[crate::store::metrics::Datum], start: f64, period: i64) -> Vec<Bucket> {
    let mut unified: Vec<_> = data.to_vec();
    for d in &mut unified {
        d.unit = String::new();
    }
    buckets(&unified, start, period as f64)
}

/// What one MetricStat query reads.
struct Plan {
    id: String,
    label: String,
    key: MetricKey,
    period: i64,
    stat: Stat,
    unit: Option<String>,
    return_data: bool,
}

fn plan_queries(queries: &[MetricDataQuery]) -> MetricsResult<Vec<Plan>> {
    let mut plans: Vec<Plan> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let at = |m: &str| format!("MetricDataQueries.member.{}.{m}", i + 1);
        let id = q.id.clone().unwrap_or_default();
        let id_ok = id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !id_ok {
            return Err(invalid(&id, &at("Id")));
        }
        if plans.iter().any(|p| p.id == id) {
            return Err(MetricsError::InvalidValue(format!(
                "The value {id} for parameter {} is already used by another query.",
                at("Id")
            )));
        }
        let stat = match (&q.metric_stat, &q.expression) {
            (Some(_), Some(_)) => {
                return Err(MetricsError::Combination(format!(
                    "The parameters {} and {} are mutually exclusive and you have specified both.",
                    at("MetricStat"),
                    at("Expression")
                )));
            }
            (None, None) => {
                return Err(MetricsError::Missing(format!(
                    "One of the parameters {} or {} must be specified.",
                    at("MetricStat"),
                    at("Expression")
                )));
            }
            (None, Some(expr)) => {
                return Err(MetricsError::InvalidValue(format!(
                    "sagebox does not evaluate metric math: the expression {expr} in {} is not supported; query the metrics themselves with MetricStat and compute on the results.",
                    at("Expression")
                )));
            }
            (Some(stat), None) => stat,
        };
        let period = stat.period.unwrap_or_default();
        check_period(period, &at("MetricStat.Period"))?;
        let stat_name = stat.stat.clone().unwrap_or_default();
        let parsed =
            Stat::parse(&stat_name).ok_or_else(|| invalid(&stat_name, &at("MetricStat.Stat")))?;
        let metric = stat.metric.clone().unwrap_or_default();
        let name = metric.metric_name.unwrap_or_default();
        plans.push(Plan {
            label: q.label.clone().unwrap_or_else(|| name.clone()),
            key: metric_key(
                &metric.namespace.unwrap_or_default(),
                &name,
                metric.dimensions.as_ref(),
            ),
            id,
            period,
            stat: parsed,
            unit: stat.unit.map(|u| u.as_str().to_string()),
            return_data: q.return_data.unwrap_or(true),
        });
    }
    Ok(plans)
}

/// Points `offset..offset + max` of all series laid end to end, query by query; a series cut
/// short is `PartialData`, and the token says where the next page starts.
fn page_results(
    results: Vec<(Plan, Vec<(f64, f64)>)>,
    offset: usize,
    max: usize,
) -> MetricDataAnswer {
    let total: usize = results.iter().map(|(_, s)| s.len()).sum();
    let (page_start, page_end) = (offset, offset.saturating_add(max).min(total));
    let mut seen = 0;
    let mut out = Vec::new();
    for (plan, series) in results {
        let (from, to) = (seen, seen + series.len());
        seen = to;
        let lo = page_start.clamp(from, to) - from;
        let hi = page_end.clamp(from, to) - from;
        let slice = &series[lo..hi];
        out.push(MetricDataResult {
            id: plan.id,
            label: plan.label,
            timestamps: slice.iter().map(|(t, _)| *t).collect(),
            values: slice.iter().map(|(_, v)| *v).collect(),
            complete: hi == series.len(),
        });
    }
    MetricDataAnswer {
        results: out,
        next_token: (page_end < total).then(|| data_token(page_end)),
    }
}

fn data_token(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("sagebox-data:{offset}"))
}

fn decode_data_token(token: &str) -> MetricsResult<usize> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sagebox-data:")?.parse().ok())
        .ok_or_else(|| {
            MetricsError::NextToken(format!("The service cannot parse the NextToken {token}."))
        })
}

/// `1441` → `1,441`, as AWS writes counts in its messages.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str) -> Plan {
        Plan {
            id: id.into(),
            label: id.into(),
            key: MetricKey {
                namespace: "n".into(),
                name: "m".into(),
                dimensions: vec![],
            },
            period: 60,
            stat: Stat::Sum,
            unit: None,
            return_data: true,
        }
    }

    #[test]
    fn pages_cut_series_and_mark_them_partial() {
        let series = |n: usize| (0..n).map(|i| (i as f64, i as f64)).collect::<Vec<_>>();
        let first = page_results(vec![(plan("a"), series(3)), (plan("b"), series(2))], 0, 4);
        assert_eq!(first.results[0].values, vec![0.0, 1.0, 2.0]);
        assert!(first.results[0].complete);
        assert_eq!(first.results[1].values, vec![0.0]);
        assert!(!first.results[1].complete);
        let token = first.next_token.expect("a token");
        let offset = decode_data_token(&token).unwrap();
        let second = page_results(
            vec![(plan("a"), series(3)), (plan("b"), series(2))],
            offset,
            4,
        );
        assert!(second.results[0].values.is_empty());
        assert_eq!(second.results[1].values, vec![1.0]);
        assert!(second.next_token.is_none());
    }

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(1441), "1,441");
        assert_eq!(thousands(100800), "100,800");
        assert_eq!(thousands(60), "60");
        assert!(check_period(120, "Period").is_ok());
        assert!(check_period(30, "Period").is_ok());
        assert!(check_period(90, "Period").is_err());
    }
}
