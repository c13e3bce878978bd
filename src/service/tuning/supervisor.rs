//! One tuning job from start to end. Each round the supervisor reads its training jobs from the
//! store, feeds running ones' objective values to the early-stopping rule, writes the counters
//! and the best training job, then either starts training jobs in the free slots (each recorded
//! in the tuning job's row before it is created), or ends the tuning job once nothing runs and
//! nothing more is to be tried. A stop (StopHyperParameterTuningJob or MaxRuntimeInSeconds)
//! stops every running training job first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::children::{self, Child, LAUNCHED, Launched, launched, raw_definitions};
use super::plan::Plan;
use super::search::{self, Goal, Search, SearchConfig, Stopper, Trial};
use super::state::{self, TrainingJobSummary};
use crate::aws::model::typed::sagemaker::{
    CreateHyperParameterTuningJobRequest, HyperParameterTuningJobStatus as Status,
};
use crate::aws::time::now_epoch;
use crate::service::training::StopRequest;
use crate::service::{Input, Services};
use crate::store::resources::ResourceKind;

/// How often a tuning job looks at its training jobs.
const ROUND: Duration = Duration::from_millis(250);

struct Tuner {
    services: Services,
    name: String,
    arn: String,
    plan: Plan,
    /// Each definition as the client sent it.
    raw_definitions: Vec<Value>,
    /// (Behind a lock only so that the supervisor's future may move between threads.)
    searches: Vec<Mutex<Box<dyn Search>>>,
    /// Definitions whose search has nothing more to try.
    exhausted: Vec<bool>,
    stopper: Option<Mutex<Box<dyn Stopper>>>,
    /// Objective values each training job has reported so far.
    curves: HashMap<String, Vec<f64>>,
    /// Parents' training jobs (warm start), for OverallBestTrainingJob.
    parents: Vec<TrainingJobSummary>,
    started: f64,
    /// The last counters and best job written, so unchanged rounds write nothing.
    written: Value,
}

pub(super) async fn run(services: Services, name: String, mut stop: watch::Receiver<StopRequest>) {
    let mut tuner = match Tuner::new(&services, &name).await {
        Ok(t) => t,
        Err(reason) => {
            tracing::error!("hyperparameter tuning job {name}: {reason}");
            end(&services, &name, Status::Failed, Some(&reason), json!({})).await;
            services.tuning.done(&name);
            return;
        }
    };
    loop {
        let Ok(row) = services.tuning_job_row(&name).await else {
            break;
        };
        let status = super::stored_status(row.status.as_deref());
        let mut list = launched(&row.derived);
        let kids = services.tuning_children(&name, &tuner.plan, &list).await;
        let out_of_time = tuner
            .plan
            .max_runtime
            .is_some_and(|s| now_epoch() - tuner.started >= s as f64);
        if status == Status::InProgress && (out_of_time || *stop.borrow() == StopRequest::Stop) {
            save(&services, &name, Status::Stopping, json!({})).await;
            continue;
        }
        let summaries: Vec<TrainingJobSummary> = kids.iter().map(|c| c.summary.clone()).collect();
        let shown = tuner.shown(&summaries);
        if status == Status::Stopping {
            let running: Vec<&Child> = kids.iter().filter(|c| c.summary.is_active()).collect();
            if running.is_empty() {
                end(&services, &name, Status::Stopped, None, shown).await;
                break;
            }
            for c in running {
                // a job that has just ended refuses the stop; the next round sees it ended
                if let Err(e) = services.stop_training_job(&c.summary.name).await {
                    tracing::debug!("tuning job {name}: stopping {}: {e}", c.summary.name);
                }
            }
        } else {
            tuner.early_stopping(&kids, &mut list).await;
            if shown != tuner.written {
                save(&services, &name, Status::InProgress, shown.clone()).await;
                tuner.written = shown.clone();
            }
            let running = summaries.iter().filter(|s| s.is_active()).count();
            let more = tuner.wants_more(&summaries);
            if more {
                tuner.launch(&mut list, &summaries, running).await;
            } else if running == 0 {
                let (status, reason) = outcome(&summaries);
                end(&services, &name, status, reason.as_deref(), shown).await;
                break;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ROUND) => {}
            _ = stop.changed() => {}
        }
    }
    services.tuning.done(&name);
}

/// Completed, unless every training job failed.
fn outcome(jobs: &[TrainingJobSummary]) -> (Status, Option<String>) {
    let failed = jobs
        .iter()
        .filter(|j| j.status == crate::aws::model::typed::sagemaker::TrainingJobStatus::Failed)
        .count();
    if !jobs.is_empty() && failed == jobs.len() {
        let first = jobs[0].failure_reason.clone().unwrap_or_default();
        (
            Status::Failed,
            Some(format!(
                "All training jobs failed. The first one, {}, failed with: {first}",
                jobs[0].name
            )),
        )
    } else {
        (Status::Completed, None)
    }
}

/// Writes the status and derived members `members` (merged over the stored ones).
async fn save(services: &Services, name: &str, status: Status, members: Value) {
    services
        .persist_state(
            ResourceKind::HyperParameterTuningJob,
            name,
            status.as_str(),
            |d| {
                if let Value::Object(m) = &members {
                    for (k, v) in m {
                        d.insert(k.clone(), v.clone());
                    }
                }
                d.insert(
                    "HyperParameterTuningJobStatus".into(),
                    json!(status.as_str()),
                );
            },
        )
        .await;
}

/// Ends the tuning job with its final members.
async fn end(services: &Services, name: &str, status: Status, reason: Option<&str>, shown: Value) {
    let now = now_epoch();
    let mut members = shown;
    if !members.is_object() {
        members = json!({});
    }
    members["HyperParameterTuningEndTime"] = json!(now);
    if let Ok(row) = services.tuning_job_row(name).await {
        members["ConsumedResources"] =
            json!({ "RuntimeInSeconds": (now - row.created).max(0.0).ceil() as u64 });
    }
    if let Some(r) = reason {
        members["FailureReason"] = json!(r);
    }
    save(services, name, status, members).await;
}

impl Tuner {
    async fn new(services: &Services, name: &str) -> Result<Tuner, String> {
        let row = services
            .tuning_job_row(name)
            .await
            .map_err(|e| e.to_string())?;
        let req: CreateHyperParameterTuningJobRequest =
            crate::service::stored(&format!("hyperparameter tuning job {name}"), &row.request)
                .map_err(|e| e.to_string())?;
        let plan = Plan::read(&req).map_err(|e| e.to_string())?;
        let seed = row
            .derived
            .get("_Seed")
            .and_then(Value::as_u64)
            .or(plan.seed)
            .unwrap_or(1);
        let (warm, parents) = services.warm_start_trials(&req).await;
        let searches = plan
            .definitions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Mutex::new(search::new_search(SearchConfig {
                    strategy: plan.strategy,
                    space: d.space.clone(),
                    goal: goal(&d.objective),
                    seed: seed.wrapping_add(i as u64),
                    max_jobs: Some(plan.max_jobs),
                    warm_start: if i == 0 { warm.clone() } else { Vec::new() },
                }))
            })
            .collect();
        let stopper = plan.stop_rule.and_then(|rule| {
            let g = plan
                .definitions
                .first()
                .map_or(Goal::Minimize, |d| goal(&d.objective));
            search::new_stopper(rule, g).map(Mutex::new)
        });
        Ok(Tuner {
            services: services.clone(),
            name: row.name.clone(),
            arn: row.arn.clone(),
            exhausted: vec![false; plan.definitions.len()],
            raw_definitions: raw_definitions(&row.request),
            plan,
            searches,
            stopper,
            curves: HashMap::new(),
            parents,
            started: row.created,
            written: Value::Null,
        })
    }

    /// Counters, BestTrainingJob, OverallBestTrainingJob (warm start) and the completion
    /// details, as the Describe shows them.
    fn shown(&self, jobs: &[TrainingJobSummary]) -> Value {
        let (training, objective) = state::counters(jobs);
        let mut out = json!({
            "TrainingJobStatusCounters": training,
            "ObjectiveStatusCounters": objective,
        });
        if let Some(best) = state::best(jobs) {
            out["BestTrainingJob"] = best.to_json();
        }
        if !self.parents.is_empty()
            && let Some(best) = state::best(jobs.iter().chain(self.parents.iter()))
        {
            out["OverallBestTrainingJob"] = best.to_json();
        }
        if self.plan.not_improving.is_some() {
            out["TuningJobCompletionDetails"] =
                json!({ "NumberOfTrainingJobsObjectiveNotImproving": self.not_improving(jobs) });
        }
        out
    }

    /// Training jobs ended since the best objective last improved (in the order they ended).
    fn not_improving(&self, jobs: &[TrainingJobSummary]) -> u64 {
        let mut ended: Vec<&TrainingJobSummary> = jobs
            .iter()
            .filter(|j| !j.is_active() && j.value().is_some())
            .collect();
        ended.sort_by(|a, b| {
            a.training_end
                .unwrap_or(0.0)
                .total_cmp(&b.training_end.unwrap_or(0.0))
        });
        let (mut best, mut since) = (None::<f64>, 0);
        for j in ended {
            let (Some((o, v)), _) = (&j.objective, ()) else {
                continue;
            };
            if best.is_none_or(|b| o.better(*v, b)) {
                best = Some(*v);
                since = 0;
            } else {
                since += 1;
            }
        }
        since
    }

    /// Whether more training jobs are to be started: within MaxNumberOfTrainingJobs, the
    /// search not exhausted, the target not reached, the objective still improving.
    fn wants_more(&self, jobs: &[TrainingJobSummary]) -> bool {
        if jobs.len() as u64 >= self.plan.max_jobs || self.exhausted.iter().all(|e| *e) {
            return false;
        }
        if let Some(target) = self.plan.target {
            let reached = jobs.iter().any(|j| match (&j.objective, j.is_active()) {
                (Some((o, v)), false) => {
                    if o.minimize {
                        *v <= target
                    } else {
                        *v >= target
                    }
                }
                _ => false,
            });
            if reached {
                return false;
            }
        }
        if let Some(n) = self.plan.not_improving
            && self.not_improving(jobs) >= n
        {
            return false;
        }
        true
    }

    /// Fills the free slots: each new training job is recorded in the tuning job's row, then
    /// created; definitions take turns.
    async fn launch(
        &mut self,
        list: &mut Vec<Launched>,
        jobs: &[TrainingJobSummary],
        running: usize,
    ) {
        let slots = (self.plan.max_parallel as usize).saturating_sub(running);
        let left = (self.plan.max_jobs as usize).saturating_sub(list.len());
        for _ in 0..slots.min(left) {
            let Some((definition, point)) = self.next_point(list, jobs) else {
                return;
            };
            let name = children::child_name(&self.name, list.len() + 1);
            list.push(Launched {
                name: name.clone(),
                definition,
                tuned: point.clone(),
                error: None,
                early_stopped: false,
            });
            self.save_launched(list).await;
            let raw = children::training_request(&name, &self.raw_definitions[definition], &point);
            let created = match Input::decode(raw) {
                Ok(input) => {
                    self.services
                        .create_training_job_for(input, Some(&self.arn))
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = created {
                tracing::warn!(
                    "hyperparameter tuning job {}: training job {name}: {e}",
                    self.name
                );
                if let Some(l) = list.last_mut() {
                    l.error = Some(format!("ClientError: {e}"));
                }
                self.save_launched(list).await;
            }
        }
    }

    /// The next definition in turn whose search still proposes a point.
    fn next_point(
        &mut self,
        list: &[Launched],
        jobs: &[TrainingJobSummary],
    ) -> Option<(usize, search::Point)> {
        let n = self.searches.len();
        for k in 0..n {
            let d = (list.len() + k) % n;
            if self.exhausted[d] {
                continue;
            }
            let trials: Vec<Trial> = list
                .iter()
                .zip(jobs.iter().map(Some).chain(std::iter::repeat(None)))
                .filter(|(l, _)| l.definition == d)
                .map(|(l, j)| Trial {
                    point: l.tuned.clone(),
                    objective: j.and_then(|j| j.value()),
                    finished: j.is_some_and(|j| !j.is_active()),
                })
                .collect();
            let proposed = self.searches[d]
                .lock()
                .map(|mut s| s.propose(&trials, 1))
                .unwrap_or_default();
            match proposed.into_iter().next() {
                Some(p) => return Some((d, p)),
                None => self.exhausted[d] = true,
            }
        }
        None
    }

    async fn save_launched(&self, list: &[Launched]) {
        let members = json!({ LAUNCHED: list });
        save(&self.services, &self.name, Status::InProgress, members).await;
    }

    /// Feeds each running training job's new objective values to the stopper and stops the
    /// ones it names (recorded first).
    async fn early_stopping(&mut self, kids: &[Child], list: &mut [Launched]) {
        if self.stopper.is_none() {
            return;
        }
        for c in kids {
            let known = self.curves.get(&c.summary.name).map_or(0, Vec::len);
            let done = !c.summary.is_active();
            if done && self.curves.contains_key(&c.summary.name) {
                continue;
            }
            let Some(def) = self.plan.definitions.get(c.launched.definition) else {
                continue;
            };
            let series = self
                .services
                .training_metric_series(&c.summary.name, &c.request)
                .await;
            let values: Vec<f64> = series
                .get(&def.objective.metric)
                .map(|s| s.iter().map(|(_, v)| *v).collect())
                .unwrap_or_default();
            let grew = values.len() > known;
            self.curves.insert(c.summary.name.clone(), values);
            if done || !grew || c.launched.early_stopped {
                continue;
            }
            let stop = self
                .stopper
                .as_ref()
                .and_then(|s| s.lock().ok())
                .is_some_and(|mut s| s.should_stop(&c.summary.name, &self.curves));
            if stop {
                if let Some(l) = list.iter_mut().find(|l| l.name == c.summary.name) {
                    l.early_stopped = true;
                }
                self.save_launched(list).await;
                tracing::info!(
                    "hyperparameter tuning job {}: stopping training job {} early",
                    self.name,
                    c.summary.name
                );
                if let Err(e) = self.services.stop_training_job(&c.summary.name).await {
                    tracing::debug!("tuning job {}: stopping {}: {e}", self.name, c.summary.name);
                }
            }
        }
    }
}

fn goal(o: &state::Objective) -> Goal {
    if o.minimize {
        Goal::Minimize
    } else {
        Goal::Maximize
    }
}

impl Services {
    /// The trials of a warm start's parents (for the search) and their training jobs (for
    /// OverallBestTrainingJob).
    async fn warm_start_trials(
        &self,
        req: &CreateHyperParameterTuningJobRequest,
    ) -> (Vec<Trial>, Vec<TrainingJobSummary>) {
        let mut trials = Vec::new();
        let mut jobs = Vec::new();
        let parents = req
            .warm_start_config
            .as_ref()
            .and_then(|w| w.parent_hyper_parameter_tuning_jobs.clone())
            .unwrap_or_default();
        for p in parents {
            let Some(pname) = p.hyper_parameter_tuning_job_name else {
                continue;
            };
            let Ok(row) = self.tuning_job_row(&pname).await else {
                continue;
            };
            let Ok(preq) = crate::service::stored::<CreateHyperParameterTuningJobRequest>(
                "parent tuning job",
                &row.request,
            ) else {
                continue;
            };
            let Ok(pplan) = Plan::read(&preq) else {
                continue;
            };
            for c in self
                .tuning_children(&row.name, &pplan, &launched(&row.derived))
                .await
            {
                trials.push(Trial {
                    point: c.summary.tuned.clone(),
                    objective: c.summary.value(),
                    finished: true,
                });
                jobs.push(c.summary);
            }
        }
        (trials, jobs)
    }
}
