//! Trial-component metrics as the SageMaker APIs report them: a summary per metric (what
//! DescribeTrialComponent and Search answer) and series by step or period (BatchGetMetrics).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::store::experiments::MetricPoint;

/// One metric of a trial component, summarised as TrialComponentMetricSummary.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSummary {
    pub name: String,
    pub max: f64,
    pub min: f64,
    pub last: f64,
    pub count: usize,
    pub avg: f64,
    pub std_dev: f64,
    pub last_timestamp: f64,
}

/// One query of BatchGetMetrics, as its members name it.
pub struct MetricQuery {
    pub resource_arn: String,
    pub metric_name: String,
    pub stat: String,
    pub period: String,
    pub x_axis: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

pub struct MetricSeries {
    pub x: Vec<i64>,
    pub values: Vec<f64>,
}

pub fn summarise(points: &[MetricPoint]) -> Vec<MetricSummary> {
    let mut by_name: BTreeMap<&str, Vec<&MetricPoint>> = BTreeMap::new();
    for p in points {
        by_name.entry(&p.name).or_default().push(p);
    }
    by_name
        .into_iter()
        .map(|(name, ps)| {
            let values: Vec<f64> = ps.iter().map(|p| p.value).collect();
            let count = values.len();
            let avg = values.iter().sum::<f64>() / count as f64;
            let var = values.iter().map(|v| (v - avg).powi(2)).sum::<f64>()
                / if count > 1 { (count - 1) as f64 } else { 1.0 };
            let last = ps.last().expect("a group has a point");
            MetricSummary {
                name: name.to_string(),
                max: values.iter().copied().fold(f64::MIN, f64::max),
                min: values.iter().copied().fold(f64::MAX, f64::min),
                last: last.value,
                count,
                avg,
                std_dev: var.sqrt(),
                last_timestamp: last.timestamp,
            }
        })
        .collect()
}

/// One statistic over a bucket of values.
fn stat(name: &str, values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let avg = values.iter().sum::<f64>() / n;
    match name {
        "Min" => values.iter().copied().fold(f64::MAX, f64::min),
        "Max" => values.iter().copied().fold(f64::MIN, f64::max),
        "Count" => n,
        "Last" => *values.last().unwrap_or(&0.0),
        "StdDev" => {
            let var = values.iter().map(|v| (v - avg).powi(2)).sum::<f64>();
            (var / if n > 1.0 { n - 1.0 } else { 1.0 }).sqrt()
        }
        _ => avg,
    }
}

/// A metric's values grouped by the query's period and reduced by its statistic.
pub fn series(points: &[MetricPoint], q: &MetricQuery) -> MetricSeries {
    let seconds = match q.period.as_str() {
        "OneMinute" => Some(60.0),
        "FiveMinute" => Some(300.0),
        "OneHour" => Some(3600.0),
        _ => None, // IterationNumber: one bucket per step
    };
    let mut buckets: BTreeMap<i64, (i64, Vec<f64>)> = BTreeMap::new();
    for p in points.iter().filter(|p| p.name == q.metric_name) {
        let ts = p.timestamp as i64;
        if q.start.is_some_and(|s| ts < s) || q.end.is_some_and(|e| ts > e) {
            continue;
        }
        let key = match seconds {
            Some(s) => (p.timestamp / s).floor() as i64,
            None => p.step.unwrap_or(0),
        };
        let x = if q.x_axis == "IterationNumber" {
            p.step.unwrap_or(0)
        } else {
            seconds.map_or(ts, |s| key * s as i64)
        };
        let entry = buckets.entry(key).or_insert((x, Vec::new()));
        entry.1.push(p.value);
    }
    let (x, values) = buckets
        .into_values()
        .map(|(x, vs)| (x, stat(&q.stat, &vs)))
        .unzip();
    MetricSeries { x, values }
}

/// TrialComponentMetricSummary members for a summary.
pub fn summary_json(s: &MetricSummary, source_arn: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("MetricName".into(), json!(s.name));
    if let Some(a) = source_arn {
        m.insert("SourceArn".into(), json!(a));
    }
    m.insert("TimeStamp".into(), json!(s.last_timestamp));
    for (k, v) in [
        ("Max", s.max),
        ("Min", s.min),
        ("Last", s.last),
        ("Avg", s.avg),
        ("StdDev", s.std_dev),
    ] {
        m.insert(k.into(), json!(v));
    }
    m.insert("Count".into(), json!(s.count));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, t: f64, step: i64, v: f64) -> MetricPoint {
        MetricPoint {
            name: name.into(),
            timestamp: t,
            step: Some(step),
            value: v,
        }
    }

    #[test]
    fn summaries_carry_min_max_last_avg_and_sample_deviation() {
        let s = summarise(&[
            p("loss", 1.0, 0, 3.0),
            p("loss", 2.0, 1, 1.0),
            p("acc", 1.0, 0, 0.5),
            p("loss", 3.0, 2, 2.0),
        ]);
        assert_eq!(s.len(), 2);
        let loss = &s[1];
        assert_eq!(
            (loss.min, loss.max, loss.last, loss.count),
            (1.0, 3.0, 2.0, 3)
        );
        assert!((loss.avg - 2.0).abs() < 1e-12 && (loss.std_dev - 1.0).abs() < 1e-12);
        assert_eq!(loss.last_timestamp, 3.0);
    }

    #[test]
    fn series_group_by_step_or_period() {
        let pts = [
            p("loss", 10.0, 0, 4.0),
            p("loss", 20.0, 0, 2.0),
            p("loss", 70.0, 1, 1.0),
        ];
        let q = |period: &str, x: &str| MetricQuery {
            resource_arn: String::new(),
            metric_name: "loss".into(),
            stat: "Avg".into(),
            period: period.into(),
            x_axis: x.into(),
            start: None,
            end: None,
        };
        let by_step = series(&pts, &q("IterationNumber", "IterationNumber"));
        assert_eq!((by_step.x, by_step.values), (vec![0, 1], vec![3.0, 1.0]));
        let by_minute = series(&pts, &q("OneMinute", "Timestamp"));
        assert_eq!(
            (by_minute.x, by_minute.values),
            (vec![0, 60], vec![3.0, 1.0])
        );
    }
}
