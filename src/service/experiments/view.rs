//! Experiments as the console reads them: a trial with the components associated with it, each
//! with the summaries of its logged metrics (what DescribeTrialComponent reports).

use super::{MetricSummary, TRIAL_MEMBERSHIP, family};
use crate::aws::time::now_epoch;
use crate::service::described::Listed;
use crate::service::stored::browse::listed;
use crate::service::{ServiceResult, Services};

/// A trial component and the summaries of its metrics.
#[derive(Debug, Clone)]
pub struct ComponentView {
    pub component: Listed,
    pub metrics: Vec<MetricSummary>,
}

impl Services {
    /// The trial components of trial `trial` (by name), in the order they joined it.
    pub async fn trial_component_views(&self, trial: &str) -> ServiceResult<Vec<ComponentView>> {
        let t = self.trial(trial).await?;
        let now = now_epoch();
        let mut out = Vec::new();
        for edge in self.store.associations(None, Some(&t.arn)).await? {
            if edge.kind.as_deref() != Some(TRIAL_MEMBERSHIP) {
                continue;
            }
            let Some(row) = self.store.stored_by_arn(&edge.source).await? else {
                continue;
            };
            let metrics = self.trial_metric_summaries(&row.key).await?;
            out.push(ComponentView {
                component: listed(family("TrialComponent"), row, now),
                metrics,
            });
        }
        Ok(out)
    }
}
