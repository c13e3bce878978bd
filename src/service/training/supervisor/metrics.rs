//! A training job's metrics: MetricDefinitions (or a built-in algorithm's own) applied to its
//! log lines, for FinalMetricDataList and the console's plots.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::aws::model::typed::sagemaker::CreateTrainingJobRequest;
use crate::service::metrics::publish::MetricPublisher;

/// Metric definitions applied to log lines; the last value of each is the final one. Built-in
/// algorithms (sagebox's emulator images for them) declare their metrics themselves, as
/// SageMaker's do: XGBoost's `[n]#011train-rmse:…` rounds and the `#quality_metric:` lines of
/// Linear Learner, K-Means and PCA.
#[derive(Default)]
pub(super) struct Metrics {
    defs: Vec<(String, regex::Regex)>,
    builtin: Option<(regex::Regex, regex::Regex)>,
    last: HashMap<String, (f64, f64)>,
    /// Every value in order, when asked for (the console's plots).
    series: Option<std::collections::BTreeMap<String, Vec<(f64, f64)>>>,
    /// Where live values go to CloudWatch metrics; unset while stored lines are rescanned, so a
    /// re-adopted job does not publish its values twice.
    publisher: Option<MetricPublisher>,
}

/// Each metric's values over time (epoch seconds, value) as the job's log lines give them.
pub fn metric_series(
    request: &Value,
    lines: impl IntoIterator<Item = (i64, String)>,
) -> std::collections::BTreeMap<String, Vec<(f64, f64)>> {
    // the stored request of a job sagebox created: it decodes, or has no metrics to read
    let request: CreateTrainingJobRequest =
        crate::service::stored("training job", request).unwrap_or_default();
    let mut m = Metrics::from_request(&request);
    m.series = Some(Default::default());
    for (ts, line) in lines {
        m.scan(&line, ts);
    }
    m.series.unwrap_or_default()
}

impl Metrics {
    pub(super) fn from_request(request: &CreateTrainingJobRequest) -> Metrics {
        let mut m = Metrics::from_definitions(request);
        let image = request
            .algorithm_specification
            .as_ref()
            .and_then(|a| a.training_image.as_deref())
            .unwrap_or_default();
        let builtin = matches!(
            crate::runtime::uris::resolve(image),
            Ok(crate::runtime::uris::ImageChoice::Emulated {
                recipe: "xgboost" | "linear-learner" | "kmeans" | "pca"
            })
        );
        if m.defs.is_empty() && builtin {
            let rounds = regex::Regex::new(
                r"(train|validation)-([A-Za-z0-9@_-]+):([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)",
            );
            let quality = regex::Regex::new(
                r"#quality_metric: host=\S+, (?:epoch=\d+, )?(train|validation|test) (\S+) <\w+>=(\S+)",
            );
            if let (Ok(r), Ok(q)) = (rounds, quality) {
                m.builtin = Some((r, q));
            }
        }
        m
    }

    pub(super) fn is_empty(&self) -> bool {
        self.defs.is_empty() && self.builtin.is_none()
    }

    fn from_definitions(request: &CreateTrainingJobRequest) -> Metrics {
        let defs = request
            .algorithm_specification
            .as_ref()
            .and_then(|a| a.metric_definitions.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let re = regex::Regex::new(d.regex.as_deref()?).ok()?;
                Some((d.name.clone()?, re))
            })
            .collect();
        Metrics {
            defs,
            builtin: None,
            last: HashMap::new(),
            series: None,
            publisher: None,
        }
    }

    pub(super) fn scan(&mut self, line: &str, ts_ms: i64) {
        let ts = ts_ms as f64 / 1000.0;
        let mut hits: Vec<(String, f64)> = Vec::new();
        if let Some((rounds, quality)) = &self.builtin {
            let captures: Vec<regex::Captures> = if line.starts_with('[') && line.contains(']') {
                rounds.captures_iter(line).collect()
            } else {
                quality.captures(line).into_iter().collect()
            };
            for c in captures {
                if let Ok(v) = c[3].parse::<f64>() {
                    hits.push((format!("{}:{}", &c[1], &c[2]), v));
                }
            }
        }
        for (name, re) in &self.defs {
            if let Some(v) = re
                .captures(line)
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().trim().parse::<f64>().ok())
            {
                hits.push((name.clone(), v));
            }
        }
        for (name, v) in hits {
            self.record(name, v, ts);
        }
    }

    /// Sends every value scanned from now on to `publisher` (`None` stops it).
    pub(super) fn publish_to(&mut self, publisher: Option<MetricPublisher>) {
        self.publisher = publisher;
    }

    fn record(&mut self, name: String, v: f64, ts: f64) {
        if let Some(p) = &self.publisher {
            p.value(&name, v, ts);
        }
        if let Some(series) = self.series.as_mut() {
            series.entry(name.clone()).or_default().push((ts, v));
        }
        self.last.insert(name, (v, ts));
    }

    pub(super) fn final_list(&self) -> Value {
        let mut names: Vec<&String> = self.last.keys().collect();
        names.sort();
        Value::Array(
            names
                .into_iter()
                .filter(|n| self.last[*n].0.is_finite())
                .map(|n| json!({ "MetricName": n, "Value": self.last[n].0, "Timestamp": self.last[n].1 }))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> CreateTrainingJobRequest {
        serde_json::from_value(v).expect("a request")
    }

    #[test]
    fn builtin_algorithms_report_their_own_metrics() {
        let req = json!({"AlgorithmSpecification": {"TrainingImage":
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"}});
        let mut m = Metrics::from_request(&request(req));
        m.scan("[0]#011train-rmse:14.5#011validation-rmse:15.25", 1000);
        m.scan("[1]#011train-rmse:12.5#011validation-rmse:13", 2000);
        let list = m.final_list();
        assert_eq!(list[0]["MetricName"], "train:rmse");
        assert_eq!(list[0]["Value"], 12.5);
        assert_eq!(list[1]["MetricName"], "validation:rmse");
        assert_eq!(list[1]["Timestamp"], 2.0);

        let req = json!({"AlgorithmSpecification": {"TrainingImage":
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"}});
        let mut m = Metrics::from_request(&request(req));
        m.scan("#quality_metric: host=algo-1, epoch=3, train binary_classification_cross_entropy_objective <loss>=0.25", 1);
        m.scan(
            "#quality_metric: host=algo-1, validation binary_f_1.000 <score>=0.9",
            1,
        );
        let names: Vec<String> = m
            .final_list()
            .as_array()
            .expect("list")
            .iter()
            .map(|x| x["MetricName"].as_str().expect("name").to_string())
            .collect();
        assert_eq!(
            names,
            [
                "train:binary_classification_cross_entropy_objective",
                "validation:binary_f_1.000"
            ]
        );
    }

    #[test]
    fn request_definitions_replace_the_builtin_ones_and_other_images_have_none() {
        let req = json!({"AlgorithmSpecification": {"TrainingImage": "my-image:1",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]}});
        let mut m = Metrics::from_request(&request(req));
        m.scan("epoch 1 loss=0.5 [0]#011train-rmse:3", 1);
        assert_eq!(
            m.final_list(),
            json!([{"MetricName": "loss", "Value": 0.5, "Timestamp": 0.001}])
        );
        assert!(
            Metrics::from_request(&request(
                json!({"AlgorithmSpecification": {"TrainingImage": "mine"}})
            ))
            .is_empty()
        );
    }
}
