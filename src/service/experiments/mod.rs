//! SageMaker Experiments beyond stored metadata: trial components associated with trials (and so
//! with experiments), lineage associations between any two resources, and the metrics logged
//! against trial components through the SageMaker Metrics API (`BatchPutMetrics`,
//! `BatchGetMetrics`), summarised into a trial component's `Metrics` as DescribeTrialComponent
//! and Search report them. Experiments, trials and trial components themselves are stored
//! families (service/stored).

use serde_json::{Value, json};

use super::stored::catalog::{Family, catalog};
use super::{Request, ServiceError, ServiceResult, Services};
use crate::aws::time::now_epoch;
use crate::store::experiments::{Association, MetricPoint};

mod jobs;
mod metrics;
mod view;

use crate::store::stored::StoredRow;
pub use jobs::{JobEnd, JobKind, job_trial_component, processing_outputs};
pub use metrics::{MetricQuery, MetricSeries, MetricSummary, series, summarise, summary_json};
pub use view::ComponentView;

/// The association kind that ties a trial component to a trial.
const TRIAL_MEMBERSHIP: &str = "sagebox:trial";

fn family(name: &str) -> &'static Family {
    catalog()
        .family(name)
        .expect("the model defines Trial and TrialComponent families")
}

impl Services {
    async fn trial_component(&self, name: &str) -> ServiceResult<StoredRow> {
        self.named("TrialComponent", "TrialComponentName", name)
            .await
    }

    async fn trial(&self, name: &str) -> ServiceResult<StoredRow> {
        self.named("Trial", "TrialName", name).await
    }

    async fn named(&self, fam: &str, member: &str, name: &str) -> ServiceResult<StoredRow> {
        let mut req = Request::new();
        req.insert(member.to_string(), Value::String(name.to_string()));
        self.stored_find(family(fam), &req, "Describe").await
    }

    /// AssociateTrialComponent: the component joins the trial (again is no error).
    pub async fn associate_trial_component(
        &self,
        component: &str,
        trial: &str,
    ) -> ServiceResult<(String, String)> {
        let tc = self.trial_component(component).await?;
        let t = self.trial(trial).await?;
        let edge = Association {
            source: tc.arn.clone(),
            destination: t.arn.clone(),
            kind: Some(TRIAL_MEMBERSHIP.into()),
            created: now_epoch(),
        };
        match self.store.associate(edge).await {
            Ok(()) | Err(crate::store::StoreError::AlreadyExists) => Ok((tc.arn, t.arn)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn disassociate_trial_component(
        &self,
        component: &str,
        trial: &str,
    ) -> ServiceResult<(String, String)> {
        let tc = self.trial_component(component).await?;
        let t = self.trial(trial).await?;
        if !self.store.dissociate(&tc.arn, &t.arn).await? {
            return Err(ServiceError::NotFound(format!(
                "Trial component \"{component}\" is not associated with trial \"{trial}\"."
            )));
        }
        Ok((tc.arn, t.arn))
    }

    /// The trials a trial component belongs to, as Search's `Parents` reports them.
    pub async fn trial_component_parents(
        &self,
        component_arn: &str,
    ) -> ServiceResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for edge in self.store.associations(Some(component_arn), None).await? {
            if edge.kind.as_deref() != Some(TRIAL_MEMBERSHIP) {
                continue;
            }
            if let Some(trial) = self.store.stored_by_arn(&edge.destination).await? {
                let get = |m: &str| {
                    trial
                        .request
                        .get(m)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                out.push((get("TrialName"), get("ExperimentName")));
            }
        }
        Ok(out)
    }

    /// ARNs of the trial components in a trial, or in any trial of an experiment.
    pub async fn trial_components_in(
        &self,
        trial: Option<&str>,
        experiment: Option<&str>,
    ) -> ServiceResult<Vec<String>> {
        let mut trials = Vec::new();
        if let Some(t) = trial {
            trials.push(self.trial(t).await?);
        }
        if let Some(e) = experiment {
            self.named("Experiment", "ExperimentName", e).await?;
            let of = self
                .store
                .stored_referencing("Trial", "ExperimentName", e)
                .await?;
            trials.retain(|t| of.iter().any(|o| o.arn == t.arn));
            if trial.is_none() {
                trials = of;
            }
        }
        let mut out = Vec::new();
        for t in trials {
            for edge in self.store.associations(None, Some(&t.arn)).await? {
                if edge.kind.as_deref() == Some(TRIAL_MEMBERSHIP) && !out.contains(&edge.source) {
                    out.push(edge.source);
                }
            }
        }
        Ok(out)
    }

    /// ARNs of the trial components in a trial (by ARN), in association order.
    pub async fn trial_components_of_trial(&self, trial_arn: &str) -> ServiceResult<Vec<String>> {
        Ok(self
            .store
            .associations(None, Some(trial_arn))
            .await?
            .into_iter()
            .filter(|e| e.kind.as_deref() == Some(TRIAL_MEMBERSHIP))
            .map(|e| e.source)
            .collect())
    }

    /// A stored resource by ARN (Search reads trial components through their trials).
    pub async fn stored_by_arn(&self, arn: &str) -> ServiceResult<Option<StoredRow>> {
        Ok(self.store.stored_by_arn(arn).await?)
    }

    /// What an association summary calls a resource: an artifact, action or context by its own
    /// type (`DataSet`, `ModelDeployment`), anything else by its kind (`TrainingJob`).
    pub async fn lineage_type(&self, arn: &str) -> ServiceResult<String> {
        if let Some(row) = self.store.stored_by_arn(arn).await? {
            let own = format!("{}Type", row.family);
            if let Some(t) = row.request.get(&own).and_then(Value::as_str) {
                return Ok(t.to_string());
            }
            return Ok(row.family);
        }
        Ok(self.resource_kind_of(arn).await?.unwrap_or_default())
    }

    /// Trials and trial components are deleted only once nothing ties them together: a
    /// component must leave its trials, a trial must lose its components first.
    pub async fn check_not_associated(&self, row: &StoredRow) -> ServiceResult<()> {
        let (from, to) = match row.family.as_str() {
            "TrialComponent" => (Some(row.arn.as_str()), None),
            "Trial" => (None, Some(row.arn.as_str())),
            _ => return Ok(()),
        };
        let tied = self.store.associations(from, to).await?;
        if let Some(edge) = tied
            .iter()
            .find(|e| e.kind.as_deref() == Some(TRIAL_MEMBERSHIP))
        {
            let other = if from.is_some() {
                &edge.destination
            } else {
                &edge.source
            };
            return Err(ServiceError::Validation(format!(
                "{} \"{}\" is still associated with \"{other}\"; disassociate it first.",
                if row.family == "Trial" {
                    "Trial"
                } else {
                    "Trial component"
                },
                row.arn
            )));
        }
        Ok(())
    }

    /// The experiment and trial a pipeline execution's PipelineExperimentConfig names, made
    /// when missing (as SageMaker Pipelines does: by default the pipeline's name and the
    /// execution's id), so that its steps' jobs join the trial.
    pub async fn ensure_experiment_trial(
        &self,
        experiment: &str,
        trial: &str,
    ) -> ServiceResult<()> {
        let mut exp = Request::new();
        exp.insert("ExperimentName".into(), json!(experiment));
        let mut t = Request::new();
        t.insert("TrialName".into(), json!(trial));
        for (fam, req) in [(family("Experiment"), exp), (family("Trial"), t)] {
            if self.stored_find(fam, &req, "Describe").await.is_err() {
                let mut req = req;
                if fam.name == "Trial" {
                    req.insert("ExperimentName".into(), json!(experiment));
                }
                self.stored_create(fam, req).await?;
            }
        }
        Ok(())
    }

    /// ARNs of the trials a trial component (by name) belongs to.
    pub async fn trials_of(&self, component: &str) -> ServiceResult<Vec<String>> {
        let tc = self.trial_component(component).await?;
        Ok(self
            .store
            .associations(Some(&tc.arn), None)
            .await?
            .into_iter()
            .filter(|e| e.kind.as_deref() == Some(TRIAL_MEMBERSHIP))
            .map(|e| e.destination)
            .collect())
    }

    /// AddAssociation: a lineage edge between two resources sagebox holds.
    pub async fn add_association(
        &self,
        source: &str,
        destination: &str,
        kind: Option<&str>,
    ) -> ServiceResult<()> {
        for arn in [source, destination] {
            if self.resource_kind_of(arn).await?.is_none() {
                return Err(ServiceError::NotFound(format!(
                    "Resource \"{arn}\" does not exist."
                )));
            }
        }
        let edge = Association {
            source: source.to_string(),
            destination: destination.to_string(),
            kind: kind.map(str::to_string),
            created: now_epoch(),
        };
        match self.store.associate(edge).await {
            Ok(()) => Ok(()),
            Err(crate::store::StoreError::AlreadyExists) => Err(ServiceError::Validation(format!(
                "The association between \"{source}\" and \"{destination}\" already exists."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_association(&self, source: &str, destination: &str) -> ServiceResult<()> {
        if !self.store.dissociate(source, destination).await? {
            return Err(ServiceError::NotFound(format!(
                "Association between \"{source}\" and \"{destination}\" does not exist."
            )));
        }
        Ok(())
    }

    /// Lineage edges (not trial memberships) from and to the given ARNs.
    pub async fn list_associations(
        &self,
        source: Option<&str>,
        destination: Option<&str>,
    ) -> ServiceResult<Vec<Association>> {
        let mut all = self.store.associations(source, destination).await?;
        all.retain(|a| a.kind.as_deref() != Some(TRIAL_MEMBERSHIP));
        Ok(all)
    }

    /// When a trial or trial component goes, so do its associations and metrics.
    pub async fn forget_experiment_resource(&self, row: &StoredRow) -> ServiceResult<()> {
        self.store.dissociate_all(&row.arn).await?;
        if row.family == "TrialComponent" {
            self.store.delete_trial_metrics(&row.key).await?;
        }
        Ok(())
    }

    /// BatchPutMetrics: the values a run logged. Answers the per-entry errors.
    pub async fn put_trial_metrics(
        &self,
        component: &str,
        data: &[Value],
    ) -> ServiceResult<Vec<Value>> {
        let Ok(tc) = self.trial_component(component).await else {
            let errors = (0..data.len())
                .map(|i| json!({"Code": "VALIDATION_ERROR", "MetricIndex": i}))
                .collect();
            return Ok(errors);
        };
        let points = data
            .iter()
            .map(|d| MetricPoint {
                name: d
                    .get("MetricName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                timestamp: d
                    .get("Timestamp")
                    .and_then(crate::aws::time::timestamp_member)
                    .unwrap_or_else(now_epoch),
                step: d.get("Step").and_then(Value::as_i64),
                value: d.get("Value").and_then(Value::as_f64).unwrap_or(f64::NAN),
            })
            .collect();
        self.store.put_trial_metrics(&tc.key, points).await?;
        Ok(Vec::new())
    }

    /// A trial component's metrics, summarised.
    pub async fn trial_metric_summaries(
        &self,
        component_key: &str,
    ) -> ServiceResult<Vec<MetricSummary>> {
        Ok(summarise(
            &self.store.trial_metrics(component_key, None).await?,
        ))
    }

    /// BatchGetMetrics: each query answered on its own (an unknown trial component is that
    /// query's ValidationError, not the request's).
    pub async fn get_trial_metrics(
        &self,
        queries: Vec<MetricQuery>,
    ) -> ServiceResult<Vec<Result<MetricSeries, String>>> {
        let mut out = Vec::new();
        for q in queries {
            let row = self.store.stored_by_arn(&q.resource_arn).await?;
            match row.filter(|r| r.family == "TrialComponent") {
                None => out.push(Err(format!("Resource {} does not exist.", q.resource_arn))),
                Some(r) => {
                    let points = self
                        .store
                        .trial_metrics(&r.key, Some(&q.metric_name))
                        .await?;
                    out.push(Ok(series(&points, &q)));
                }
            }
        }
        Ok(out)
    }
}
