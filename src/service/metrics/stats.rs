//! Statistics over stored data: the period buckets GetMetricStatistics and GetMetricData answer
//! with, and the statistics CloudWatch computes in each (SampleCount, Average, Sum, Minimum,
//! Maximum, and percentiles `pNN.NN`).
//!
//! Percentiles are exact over the values sagebox knows: the nearest-rank value of the
//! distribution (the smallest value with at least p% of the samples at or below it). A
//! statistic set only has a distribution when it describes one value (SampleCount 1, or Minimum
//! equal to Maximum), as CloudWatch documents; a bucket holding any other set has no percentile.

use std::collections::BTreeMap;

use crate::store::metrics::Datum;

/// A statistic by its CloudWatch name.
#[derive(Debug, Clone, PartialEq)]
pub enum Stat {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// The percentile (0..=100) and its name as the client wrote it (`p99`, `p99.9`).
    Percentile(f64, String),
}

impl Stat {
    /// `SampleCount`, `Average`, `Sum`, `Minimum`, `Maximum` or `pNN.NN`; `None` otherwise.
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "SampleCount" => Stat::SampleCount,
            "Average" => Stat::Average,
            "Sum" => Stat::Sum,
            "Minimum" => Stat::Minimum,
            "Maximum" => Stat::Maximum,
            _ => return percentile(s).map(|p| Stat::Percentile(p, s.to_string())),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Stat::SampleCount => "SampleCount",
            Stat::Average => "Average",
            Stat::Sum => "Sum",
            Stat::Minimum => "Minimum",
            Stat::Maximum => "Maximum",
            Stat::Percentile(_, name) => name,
        }
    }
}

/// `pNN` or `pNN.NN` (up to two decimals) between p0 and p100.
fn percentile(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('p')?;
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 3
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(digits.contains('.') && frac.is_empty());
    let p: f64 = digits.parse().ok()?;
    (ok && (0.0..=100.0).contains(&p)).then_some(p)
}

/// The data of one period (and one unit).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: f64,
    pub unit: String,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// `None` once a datum without a known distribution joined.
    pub distribution: Option<Vec<(f64, f64)>>,
}

impl Bucket {
    fn new(start: f64, d: &Datum) -> Bucket {
        Bucket {
            start,
            unit: d.unit.clone(),
            sample_count: 0.0,
            sum: 0.0,
            minimum: f64::INFINITY,
            maximum: f64::NEG_INFINITY,
            distribution: Some(Vec::new()),
        }
    }

    fn add(&mut self, d: &Datum) {
        self.sample_count += d.sample_count;
        self.sum += d.sum;
        self.minimum = self.minimum.min(d.minimum);
        self.maximum = self.maximum.max(d.maximum);
        let known = d.distribution.clone().or_else(|| {
            (d.sample_count == 1.0 || d.minimum == d.maximum)
                .then(|| vec![(d.minimum, d.sample_count)])
        });
        match (self.distribution.as_mut(), known) {
            (Some(dist), Some(more)) => dist.extend(more),
            _ => self.distribution = None,
        }
    }

    /// The statistic's value, if this bucket can give it.
    pub fn stat(&self, stat: &Stat) -> Option<f64> {
        Some(match stat {
            Stat::SampleCount => self.sample_count,
            Stat::Average => self.sum / self.sample_count,
            Stat::Sum => self.sum,
            Stat::Minimum => self.minimum,
            Stat::Maximum => self.maximum,
            Stat::Percentile(p, _) => nearest_rank(self.distribution.as_ref()?, *p)?,
        })
    }
}

fn nearest_rank(dist: &[(f64, f64)], p: f64) -> Option<f64> {
    let mut sorted: Vec<(f64, f64)> = dist.iter().copied().filter(|(_, c)| *c > 0.0).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = sorted.iter().map(|(_, c)| c).sum();
    if total <= 0.0 {
        return None;
    }
    let rank = (p / 100.0 * total).ceil().max(1.0);
    let mut seen = 0.0;
    for (v, c) in &sorted {
        seen += c;
        if seen >= rank {
            return Some(*v);
        }
    }
    sorted.last().map(|(v, _)| *v)
}

/// Buckets of `period` seconds from `start`, one per (period, unit) that holds data, in time
/// order. `data` must lie in the queried range.
pub fn buckets(data: &[Datum], start: f64, period: f64) -> Vec<Bucket> {
    let mut by: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
    for d in data {
        let index = ((d.timestamp - start) / period).floor() as i64;
        let begin = start + index as f64 * period;
        by.entry((index, d.unit.clone()))
            .or_insert_with(|| Bucket::new(begin, d))
            .add(d);
    }
    by.into_values().collect()
}

/// Where CloudWatch starts the periods of a query: the start time rounded down to the whole
/// minute (to the second, and a multiple of the period, for high-resolution periods), to 5
/// minutes past 15 days ago and to the hour past 63 days ago, as the GetMetricStatistics
/// documentation gives.
pub fn aligned_start(start: f64, period: i64, now: f64) -> f64 {
    let age = now - start;
    let step = if age > 63.0 * 86_400.0 {
        3_600.0
    } else if age > 15.0 * 86_400.0 {
        300.0
    } else if period < 60 {
        period as f64
    } else {
        60.0
    };
    (start / step).floor() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t: f64, v: f64) -> Datum {
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

    #[test]
    fn statistics_names_and_percentiles_parse() {
        assert_eq!(Stat::parse("Average"), Some(Stat::Average));
        assert_eq!(
            Stat::parse("p99.9"),
            Some(Stat::Percentile(99.9, "p99.9".into()))
        );
        assert_eq!(
            Stat::parse("p100"),
            Some(Stat::Percentile(100.0, "p100".into()))
        );
        for bad in ["p101", "p", "p9.999", "p9.", "avg", "P50", "p-1"] {
            assert_eq!(Stat::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn buckets_aggregate_each_period_exactly() {
        let data = [value(60.0, 1.0), value(90.0, 3.0), value(130.0, 10.0)];
        let b = buckets(&data, 60.0, 60.0);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].start, 60.0);
        assert_eq!(b[0].stat(&Stat::Average), Some(2.0));
        assert_eq!(b[0].stat(&Stat::SampleCount), Some(2.0));
        assert_eq!(b[1].start, 120.0);
        assert_eq!(b[1].stat(&Stat::Maximum), Some(10.0));
    }

    #[test]
    fn percentiles_are_nearest_rank_over_weighted_values() {
        let mut d = value(0.0, 0.0);
        d.distribution = Some(vec![(1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (4.0, 7.0)]);
        let b = buckets(&[d], 0.0, 60.0);
        let p = |x: f64| b[0].stat(&Stat::Percentile(x, String::new()));
        assert_eq!(p(10.0), Some(1.0));
        assert_eq!(p(25.0), Some(3.0));
        assert_eq!(p(30.0), Some(3.0));
        assert_eq!(p(31.0), Some(4.0));
        assert_eq!(p(0.0), Some(1.0));
    }

    #[test]
    fn statistic_sets_of_many_values_have_no_percentiles() {
        let set = Datum {
            timestamp: 0.0,
            unit: "None".into(),
            sample_count: 2.0,
            sum: 3.0,
            minimum: 1.0,
            maximum: 2.0,
            distribution: None,
        };
        let b = buckets(&[set], 0.0, 60.0);
        assert_eq!(b[0].stat(&Stat::Percentile(50.0, String::new())), None);
        assert_eq!(b[0].stat(&Stat::Average), Some(1.5));
    }

    #[test]
    fn query_starts_round_down_by_age() {
        let now = 100.0 * 86_400.0;
        assert_eq!(aligned_start(now - 95.0, 60, now), now - 120.0);
        assert_eq!(aligned_start(now - 7.5, 5, now), now - 10.0);
        assert_eq!(
            aligned_start(now - 20.0 * 86_400.0 - 10.0, 60, now),
            now - 20.0 * 86_400.0 - 300.0
        );
    }
}
