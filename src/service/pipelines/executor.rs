//! Runs one pipeline execution: a task per execution starts every step whose upstream steps
//! have succeeded (up to the parallelism limit), follows them, and writes each step's state to
//! the execution's row before acting on it, so a restart picks up where it left off (a job step
//! finds its job again by the name it saved). Stop requests, callback results and finished
//! steps reach the task as events.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::definition::{Definition, StepDef};
pub(crate) use super::events::{Event, Executions};
use super::reuse;
use super::scope::{ExecutionVars, RunScope, cache_key};
use super::state::{EXECUTION, ExecutionState, StepRun};
use super::steps::{self, Kind, Outcome};
use crate::aws::model::typed::sagemaker::{PipelineExecutionStatus as Status, StepStatus};
use crate::aws::time::now_epoch;
use crate::service::Services;
use crate::store::resources::ResourceKind;

/// The default of ParallelismConfiguration.MaxParallelExecutionSteps.
pub const DEFAULT_MAX_PARALLEL: u32 = 50;

/// Starts the task of execution row `name` (`<pipeline>/execution/<id>`), whose row holds an
/// `ExecutionState` with its definition and parameters.
pub(crate) fn spawn(services: Services, name: String) {
    let (tx, rx) = services.pipelines.register(&name);
    tokio::spawn(async move {
        match Executor::load(&services, &name, tx).await {
            Ok(mut ex) => ex.run(rx).await,
            Err(e) => {
                // an execution that cannot run ends Failed with the reason, never Executing forever
                tracing::error!("pipeline execution {name} cannot run: {e}");
                let reason = format!("sagebox cannot run this execution: {e}");
                let saved = services
                    .update_status(
                        ResourceKind::PipelineExecution,
                        &name,
                        Status::Failed.as_str(),
                        |d| {
                            d.insert("FailureReason".into(), json!(reason));
                        },
                    )
                    .await;
                if let Err(e) = saved {
                    tracing::error!("pipeline execution {name}: cannot save its failure: {e}");
                }
            }
        }
        services.pipelines.done(&name);
    });
}

struct Executor {
    s: Services,
    name: String,
    status: Status,
    state: ExecutionState,
    definition: Arc<Definition>,
    parameters: BTreeMap<String, Value>,
    vars: ExecutionVars,
    tx: mpsc::UnboundedSender<Event>,
    stop_tx: watch::Sender<bool>,
}

impl Executor {
    async fn load(
        s: &Services,
        name: &str,
        tx: mpsc::UnboundedSender<Event>,
    ) -> Result<Executor, String> {
        let row = s
            .store
            .resource(ResourceKind::PipelineExecution, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the execution's row is gone")?;
        let state: ExecutionState =
            serde_json::from_value(row.derived.clone()).map_err(|e| e.to_string())?;
        let status = row
            .status
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Status::Executing);
        let (pipeline_name, execution_id) = name
            .split_once("/execution/")
            .ok_or("not an execution row name")?;
        let pipeline = s
            .store
            .resource(ResourceKind::Pipeline, pipeline_name)
            .await
            .map_err(|e| e.to_string())?;
        let role_arn = row.request["RoleArn"]
            .as_str()
            .or_else(|| {
                pipeline
                    .as_ref()
                    .and_then(|p| p.request["RoleArn"].as_str())
            })
            .map(str::to_string);
        let vars = ExecutionVars {
            pipeline_name: pipeline
                .as_ref()
                .map_or(pipeline_name.to_string(), |p| p.name.clone()),
            pipeline_arn: s.sagemaker_arn("pipeline", pipeline_name),
            execution_id: execution_id.to_string(),
            execution_arn: row.arn.clone(),
            start: row.created,
            role_arn,
        };
        let definition = Arc::new(Definition::parse(&state.definition)?);
        let parameters = state.parameters.iter().cloned().collect();
        let (stop_tx, _) = watch::channel(status == Status::Stopping);
        Ok(Executor {
            s: s.clone(),
            name: name.to_string(),
            status,
            state,
            definition,
            parameters,
            vars,
            tx,
            stop_tx,
        })
    }

    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
        self.resume_running_steps();
        if self.status == Status::Stopping {
            // a stop that a restart cut short goes on
            self.status = Status::Executing;
            self.handle(Event::Stop).await;
        }
        loop {
            if self.status == Status::Executing && !self.any_failed() {
                self.start_ready_steps().await;
            }
            if !self.state.steps.iter().any(|s| !s.is_done()) {
                break;
            }
            let Some(event) = rx.recv().await else { break };
            self.handle(event).await;
        }
        self.finish().await;
    }

    /// After a restart: job steps that were running follow their jobs again.
    fn resume_running_steps(&mut self) {
        let resumable: Vec<(String, Option<String>)> = self
            .state
            .steps
            .iter()
            .filter(|r| !r.is_done() && r.callback_token.is_none())
            .map(|r| (r.name.clone(), r.resource.clone()))
            .collect();
        for (step, resource) in resumable {
            let Some(def) = self.definition.step(&step).cloned() else {
                continue;
            };
            match steps::kind(&def.kind) {
                Kind::Resource(_) => self.launch(&def, resource.clone()),
                _ => {
                    // instant steps cut short by the restart run again from the start
                    self.state.steps.retain(|r| r.name != step);
                }
            }
        }
    }

    fn any_failed(&self) -> bool {
        self.state
            .steps
            .iter()
            .any(|s| s.status == StepStatus::Failed)
    }

    fn executing(&self) -> usize {
        self.state.steps.iter().filter(|s| !s.is_done()).count()
    }

    /// Whether step `def` may start now: not started, its branch taken, every upstream step
    /// succeeded.
    fn ready(&self, def: &StepDef) -> bool {
        if self.state.step(&def.name).is_some() || !self.in_selection(&def.name) {
            return false;
        }
        if let Some((condition, side)) = &def.branch_of {
            let outcome = self
                .state
                .step(condition)
                .filter(|c| c.status == StepStatus::Succeeded)
                .and_then(|c| c.properties["Outcome"].as_str().map(str::to_string));
            if outcome.as_deref() != Some(if *side { "True" } else { "False" }) {
                return false;
            }
        }
        self.definition.upstream(&def.name).iter().all(|u| {
            self.state
                .step(u)
                .is_some_and(|r| r.status == StepStatus::Succeeded)
        })
    }

    fn in_selection(&self, name: &str) -> bool {
        reuse::in_selection(&self.definition, &self.state.selected, name)
    }

    async fn start_ready_steps(&mut self) {
        loop {
            let max = if self.state.max_parallel == 0 {
                DEFAULT_MAX_PARALLEL
            } else {
                self.state.max_parallel
            } as usize;
            if self.executing() >= max || self.any_failed() {
                return;
            }
            let next = self
                .definition
                .steps
                .iter()
                .find(|d| self.ready(d))
                .cloned();
            let Some(def) = next else { return };
            self.start(&def).await;
            self.save().await;
        }
    }

    fn new_run(&self, def: &StepDef) -> StepRun {
        StepRun {
            name: def.name.clone(),
            kind: def.kind.clone(),
            display_name: def.display_name.clone(),
            description: def.description.clone(),
            status: StepStatus::Executing,
            start: Some(now_epoch()),
            attempt_count: 1,
            ..StepRun::default()
        }
    }

    fn scope(&self, placeholders: bool) -> RunScope {
        RunScope {
            definition: self.definition.clone(),
            parameters: self.parameters.clone(),
            vars: self.vars.clone(),
            properties: self
                .state
                .steps
                .iter()
                .filter(|r| r.status == StepStatus::Succeeded)
                .map(|r| (r.name.clone(), r.properties.clone()))
                .collect(),
            placeholders,
            services: self.s.clone(),
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// Starts one step: instant steps end here; resource steps get their task.
    async fn start(&mut self, def: &StepDef) {
        let mut run = self.new_run(def);
        if let Some(source) = self.not_selected(def).await {
            let taken = source.unwrap_or_else(|reason| {
                end(&mut run, StepStatus::Failed, Some(reason));
                run
            });
            self.state.steps.push(taken);
            return;
        }
        match steps::kind(&def.kind) {
            Kind::Resource(r) => self.start_resource(def, r, run).await,
            kind => {
                self.run_instant(def, kind, &mut run).await;
                self.state.steps.push(run);
            }
        }
    }

    /// Runs a step that needs no resource: Condition, Fail, a refused type; or hands a Callback
    /// step its token.
    async fn run_instant(&self, def: &StepDef, kind: Kind, run: &mut StepRun) {
        match kind {
            Kind::Condition => {
                let conditions = def.arguments["Conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                match self.scope(false).evaluate(conditions).await {
                    Ok(outcome) => {
                        let o = if outcome { "True" } else { "False" };
                        run.metadata = json!({ "Condition": { "Outcome": o } });
                        run.properties = json!({ "Outcome": o });
                        end(run, StepStatus::Succeeded, None);
                    }
                    Err(e) => end(run, StepStatus::Failed, Some(e)),
                }
            }
            Kind::Fail => {
                let message = match self
                    .scope(false)
                    .resolve(def.arguments["ErrorMessage"].clone())
                    .await
                {
                    Ok(Value::Null) => String::new(),
                    Ok(v) => super::expr::to_display_string(&v),
                    Err(e) => e,
                };
                run.metadata = json!({ "Fail": { "ErrorMessage": message } });
                end(run, StepStatus::Failed, Some(message));
            }
            Kind::Callback => {
                let token = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
                let mut callback = json!({ "CallbackToken": token });
                if let Some(q) = def
                    .extra
                    .get("SqsQueueUrl")
                    .or(def.arguments.get("SqsQueueUrl"))
                    .and_then(Value::as_str)
                {
                    callback["SqsQueueUrl"] = json!(q);
                }
                run.metadata = json!({ "Callback": callback });
                run.callback_token = Some(token);
            }
            Kind::Refused(reason) => end(run, StepStatus::Failed, Some(reason)),
            Kind::Resource(_) => {}
        }
    }

    /// Resolves a resource step's arguments, takes its result from the cache when it may, else
    /// saves the name of the resource it will create and starts the task that creates it.
    async fn start_resource(
        &mut self,
        def: &StepDef,
        r: &'static steps::ResourceStep,
        mut run: StepRun,
    ) {
        let resolved = self.scope(false).resolve(def.arguments.clone()).await;
        let arguments = match resolved {
            Ok(a) => a,
            Err(e) => {
                end(&mut run, StepStatus::Failed, Some(e));
                self.state.steps.push(run);
                return;
            }
        };
        if def.cache.is_some() {
            let key = self
                .scope(true)
                .resolve(def.arguments.clone())
                .await
                .map(|a| cache_key(&def.kind, &a));
            run.cache_key = key.ok();
            let hit = match run.cache_key.as_deref() {
                Some(key) => {
                    reuse::cached(&self.s, &self.vars.pipeline_name, &self.name, def, key).await
                }
                None => None,
            };
            if let Some(hit) = hit {
                run.properties = hit.properties;
                run.metadata = hit.metadata;
                run.cache_source = hit.cache_source;
                end(&mut run, StepStatus::Succeeded, None);
                self.state.steps.push(run);
                return;
            }
        }
        run.resource = r
            .name_member
            .map(|_| steps::resource_name(&self.vars.execution_id, &def.name, r.max_name));
        run.arguments = Some(self.with_experiment(r, arguments));
        self.state.steps.push(run);
        // the name is saved before the resource is created, so a restart finds it
        self.save().await;
        self.launch(def, None);
    }

    /// A training, processing or transform job's arguments with the execution's experiment and
    /// trial as its ExperimentConfig (unless the step sets its own), so the job joins the
    /// execution's trial as SageMaker Pipelines has it.
    fn with_experiment(&self, r: &steps::ResourceStep, mut arguments: Value) -> Value {
        let takes_config = matches!(
            r.create,
            "CreateTrainingJob" | "CreateProcessingJob" | "CreateTransformJob"
        );
        let pair =
            super::resources::start::experiment_and_trial(self.state.experiment_config.as_ref());
        if let (true, Some((experiment, trial)), Value::Object(args)) =
            (takes_config, pair, &mut arguments)
            && !args.contains_key("ExperimentConfig")
        {
            args.insert(
                "ExperimentConfig".into(),
                json!({"ExperimentName": experiment, "TrialName": trial}),
            );
        }
        arguments
    }

    /// Starts the task that creates and follows a resource step's resource (`existing`: the one
    /// an earlier run created).
    fn launch(&self, def: &StepDef, existing: Option<String>) {
        let Kind::Resource(r) = steps::kind(&def.kind) else {
            return;
        };
        let Some(run) = self.state.step(&def.name) else {
            return;
        };
        let arguments = run.arguments.clone().unwrap_or_default();
        let name = run.resource.clone().unwrap_or_default();
        let s = self.s.clone();
        let tx = self.tx.clone();
        let step = def.name.clone();
        let stop = self.stop_tx.subscribe();
        tokio::spawn(async move {
            let tx2 = tx.clone();
            let step2 = step.clone();
            let outcome = r
                .run(
                    &s,
                    arguments,
                    &name,
                    existing,
                    |created| {
                        if tx2
                            .send(Event::Created {
                                step: step2,
                                created,
                            })
                            .is_err()
                        {
                            tracing::debug!(
                                "a pipeline step's execution ended before its resource was created"
                            );
                        }
                    },
                    stop,
                )
                .await;
            if tx.send(Event::Finished { step, outcome }).is_err() {
                tracing::debug!("a pipeline step finished after its execution's task ended");
            }
        });
    }

    /// For a step SelectiveExecutionConfig did not select: its result in the source execution,
    /// or why there is none to take (the step then fails rather than run unselected).
    async fn not_selected(&self, def: &StepDef) -> Option<Result<StepRun, String>> {
        if self.state.selected.is_empty() || self.state.selected.contains(&def.name) {
            return None;
        }
        let source = self.state.source_execution.clone()?;
        Some(reuse::from_source(&self.s, &source, &def.name).await)
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Stop => {
                if self.status == Status::Executing {
                    self.status = Status::Stopping;
                    // runners that have ended no longer listen; nothing is lost
                    self.stop_tx.send_replace(true);
                    for r in self.state.steps.iter_mut() {
                        if !r.is_done() && r.callback_token.is_some() {
                            end(r, StepStatus::Stopped, None);
                        }
                    }
                }
            }
            Event::Callback { token, result } => {
                let Some(r) = self
                    .state
                    .steps
                    .iter_mut()
                    .find(|r| r.callback_token.as_deref() == Some(&token) && !r.is_done())
                else {
                    return;
                };
                match result {
                    Ok(outputs) => {
                        let list: Vec<Value> = outputs
                            .iter()
                            .map(|(n, v)| json!({ "Name": n, "Value": v }))
                            .collect();
                        r.metadata["Callback"]["OutputParameters"] = json!(list);
                        // `Steps.X.OutputParameters['name']` reads the value by its name
                        let by_name: serde_json::Map<String, Value> =
                            outputs.into_iter().map(|(n, v)| (n, json!(v))).collect();
                        r.properties = json!({ "OutputParameters": by_name });
                        end(r, StepStatus::Succeeded, None);
                    }
                    Err(reason) => end(r, StepStatus::Failed, Some(reason)),
                }
            }
            Event::Created { step, created } => {
                let Some(def) = self.definition.step(&step) else {
                    return;
                };
                let Kind::Resource(r) = steps::kind(&def.kind) else {
                    return;
                };
                if let Some(run) = self.state.step_mut(&step) {
                    run.resource = Some(created.resource);
                    run.metadata = json!({ r.metadata: { "Arn": created.arn } });
                }
            }
            Event::Finished { step, outcome } => self.finished(&step, outcome),
            Event::Parallelism(n) => self.state.max_parallel = n,
            Event::Retry { step } => {
                if self.status == Status::Executing
                    && let Some(def) = self.definition.step(&step).cloned()
                {
                    self.launch(&def, None);
                } else if let Some(run) = self.state.step_mut(&step) {
                    end(run, StepStatus::Stopped, None);
                }
            }
        }
        self.save().await;
    }

    fn finished(&mut self, step: &str, outcome: Outcome) {
        let retry = match &outcome {
            Outcome::Failed {
                retry_as: Some(class),
                ..
            } if self.status == Status::Executing => self.retry_delay(step, class),
            _ => None,
        };
        let Some(run) = self.state.step_mut(step) else {
            return;
        };
        if let Some(delay) = retry {
            run.attempt_count += 1;
            if let Some(def) = self.definition.step(step)
                && let Kind::Resource(r) = steps::kind(&def.kind)
            {
                run.resource = r
                    .name_member
                    .map(|_| steps::resource_name(&self.vars.execution_id, step, r.max_name));
                run.metadata = json!({});
            }
            let tx = self.tx.clone();
            let step = step.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs_f64(delay)).await;
                if tx.send(Event::Retry { step }).is_err() {
                    tracing::debug!("a pipeline step's retry came after its execution ended");
                }
            });
            return;
        }
        match outcome {
            Outcome::Succeeded { properties } => {
                run.properties = properties;
                end(run, StepStatus::Succeeded, None);
            }
            Outcome::Failed { reason, .. } => end(run, StepStatus::Failed, Some(reason)),
            Outcome::Stopped => end(run, StepStatus::Stopped, None),
        }
    }

    /// The wait before another attempt of `step`, if one of its RetryPolicies covers a failure
    /// of type `class` and has attempts left.
    fn retry_delay(&self, step: &str, class: &str) -> Option<f64> {
        let def = self.definition.step(step)?;
        let run = self.state.step(step)?;
        let started = run.start.unwrap_or_else(now_epoch);
        steps::retry_wait(
            &def.retry_policies,
            class,
            run.attempt_count,
            now_epoch() - started,
        )
    }

    async fn finish(&mut self) {
        self.status = match self.status {
            Status::Stopping => Status::Stopped,
            _ if self.any_failed() => {
                self.state.failure_reason =
                    Some("Step failure: One or multiple steps failed.".into());
                Status::Failed
            }
            _ if self
                .state
                .steps
                .iter()
                .any(|s| s.status == StepStatus::Stopped) =>
            {
                Status::Stopped
            }
            _ => Status::Succeeded,
        };
        self.save().await;
    }

    /// Writes the execution's status and state to its row.
    async fn save(&mut self) {
        let now = now_epoch();
        self.state.last_modified = Some(now);
        let state = match serde_json::to_value(&self.state) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(
                    "pipeline execution {}: state does not encode: {e}",
                    self.name
                );
                return;
            }
        };
        let _rows = self.s.pipelines.lock_rows().await;
        let result = self
            .s
            .update_status(
                ResourceKind::PipelineExecution,
                &self.name,
                self.status.as_str(),
                |d| {
                    d.remove("FailureReason");
                    d.extend(state.clone());
                },
            )
            .await;
        if let Err(e) = result {
            tracing::error!(
                "pipeline execution {}: cannot save its state: {e}",
                self.name
            );
        }
        debug_assert!(EXECUTION.reachable().contains(&self.status));
    }
}

/// Ends a step in `status`.
fn end(run: &mut StepRun, status: StepStatus, reason: Option<String>) {
    run.status = status;
    run.end = Some(now_epoch());
    run.failure_reason = reason;
}
