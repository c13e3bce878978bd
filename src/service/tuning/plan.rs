//! A CreateHyperParameterTuningJob request read into what the supervisor acts on (`Plan`):
//! strategy, search spaces, objectives, limits, early stopping and completion criteria. Reading
//! it is also the request's validation: each refusal is the ValidationException (or
//! ResourceLimitExceeded) message SageMaker answers with. The supervisor reads the stored
//! request again the same way after a restart.

use crate::aws::model::typed::sagemaker::{
    CreateHyperParameterTuningJobRequest, HyperParameterTrainingJobDefinition,
    HyperParameterTuningJobConfig, HyperParameterTuningJobObjective,
    HyperParameterTuningJobObjectiveType, HyperParameterTuningJobStrategyType as Strategy,
    ParameterRanges, TrainingJobEarlyStoppingType,
};
use crate::service::tuning::search::{Space, StopRule, StrategyKind};
use crate::service::{ServiceError, ServiceResult};

use super::state::Objective;

/// SageMaker's default quotas: training jobs per tuning job, and at once.
pub const MAX_TRAINING_JOBS: u64 = 500;
pub const MAX_PARALLEL_TRAINING_JOBS: u64 = 100;
/// WarmStartConfig takes up to 5 parent tuning jobs.
pub const MAX_PARENTS: usize = 5;

/// One training job definition with its search space and objective.
#[derive(Debug, Clone)]
pub struct Definition {
    pub definition: HyperParameterTrainingJobDefinition,
    pub space: Space,
    pub objective: Objective,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub strategy: StrategyKind,
    pub definitions: Vec<Definition>,
    pub max_jobs: u64,
    pub max_parallel: u64,
    pub max_runtime: Option<u64>,
    pub stop_rule: Option<StopRule>,
    /// TuningJobCompletionCriteria.TargetObjectiveMetricValue.
    pub target: Option<f64>,
    /// BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving.
    pub not_improving: Option<u64>,
    pub seed: Option<u64>,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(message.into())
}

impl Plan {
    pub fn read(req: &CreateHyperParameterTuningJobRequest) -> ServiceResult<Plan> {
        let config = req
            .hyper_parameter_tuning_job_config
            .as_ref()
            .ok_or_else(|| invalid("HyperParameterTuningJobConfig is required."))?;
        let strategy = match config.strategy {
            Some(Strategy::Random) => StrategyKind::Random,
            Some(Strategy::Grid) => StrategyKind::Grid,
            Some(Strategy::Hyperband) => StrategyKind::Hyperband,
            _ => StrategyKind::Bayesian,
        };
        let definitions = definitions(req, config)?;
        for d in &definitions {
            check_space(strategy, &d.space, config)?;
            check_static(d)?;
            check_objective_metric(d)?;
        }
        let stop_rule = stop_rule(strategy, config)?;
        let (max_jobs, max_parallel) = limits(strategy, config, &definitions)?;
        let criteria = config.tuning_job_completion_criteria.as_ref();
        Ok(Plan {
            strategy,
            definitions,
            max_jobs,
            max_parallel,
            max_runtime: config
                .resource_limits
                .as_ref()
                .and_then(|l| l.max_runtime_in_seconds)
                .and_then(|s| u64::try_from(s).ok()),
            stop_rule,
            target: criteria.and_then(|c| c.target_objective_metric_value),
            not_improving: criteria
                .and_then(|c| c.best_objective_not_improving.as_ref())
                .and_then(|b| b.max_number_of_training_jobs_not_improving)
                .and_then(|n| u64::try_from(n).ok()),
            seed: config.random_seed.and_then(|s| u64::try_from(s).ok()),
        })
    }
}

/// TrainingJobDefinition (with the config's ranges and objective) or TrainingJobDefinitions
/// (each with its own), never both.
fn definitions(
    req: &CreateHyperParameterTuningJobRequest,
    config: &HyperParameterTuningJobConfig,
) -> ServiceResult<Vec<Definition>> {
    match (&req.training_job_definition, &req.training_job_definitions) {
        (Some(_), Some(_)) | (None, None) => Err(invalid(
            "Exactly one of TrainingJobDefinition or TrainingJobDefinitions must be specified.",
        )),
        (Some(d), None) => {
            let ranges = config.parameter_ranges.clone().unwrap_or_default();
            let objective = objective(config.hyper_parameter_tuning_job_objective.as_ref())?;
            Ok(vec![definition(d.clone(), &ranges, objective)?])
        }
        (None, Some(list)) => {
            if config.parameter_ranges.is_some() {
                return Err(invalid(
                    "ParameterRanges in HyperParameterTuningJobConfig cannot be specified with TrainingJobDefinitions; give each definition its HyperParameterRanges.",
                ));
            }
            let mut names = std::collections::HashSet::new();
            let mut out = Vec::new();
            for d in list {
                let name = d.definition_name.clone().unwrap_or_default();
                if name.is_empty() {
                    return Err(invalid(
                        "DefinitionName is required for each definition in TrainingJobDefinitions.",
                    ));
                }
                if !names.insert(name.clone()) {
                    return Err(invalid(format!(
                        "DefinitionName {name} is used more than once in TrainingJobDefinitions."
                    )));
                }
                let objective = objective(
                    d.tuning_objective
                        .as_ref()
                        .or(config.hyper_parameter_tuning_job_objective.as_ref()),
                )?;
                let ranges = d.hyper_parameter_ranges.clone().unwrap_or_default();
                out.push(definition(d.clone(), &ranges, objective)?);
            }
            Ok(out)
        }
    }
}

fn objective(o: Option<&HyperParameterTuningJobObjective>) -> ServiceResult<Objective> {
    let o = o.ok_or_else(|| {
        invalid("HyperParameterTuningJobObjective is required for this hyperparameter tuning job.")
    })?;
    Ok(Objective {
        metric: o.metric_name.clone().unwrap_or_default(),
        minimize: o.type_ != Some(HyperParameterTuningJobObjectiveType::Maximize),
    })
}

fn definition(
    definition: HyperParameterTrainingJobDefinition,
    ranges: &ParameterRanges,
    objective: Objective,
) -> ServiceResult<Definition> {
    let space = Space::from_ranges(ranges).map_err(invalid)?;
    Ok(Definition {
        definition,
        space,
        objective,
    })
}

/// The search's own rules for ranges (`Space::validate`, `validate_for`), which word their
/// refusals as SageMaker does.
fn check_space(
    strategy: StrategyKind,
    space: &Space,
    config: &HyperParameterTuningJobConfig,
) -> ServiceResult<()> {
    let max_jobs = config
        .resource_limits
        .as_ref()
        .and_then(|l| l.max_number_of_training_jobs)
        .and_then(|n| u64::try_from(n).ok());
    space.validate().map_err(invalid)?;
    space.validate_for(strategy, max_jobs).map_err(invalid)
}

/// A tuned hyperparameter cannot also be static.
fn check_static(d: &Definition) -> ServiceResult<()> {
    let statics = d.definition.static_hyper_parameters.as_ref();
    for r in &d.space.ranges {
        if statics.is_some_and(|s| s.contains_key(r.name())) {
            return Err(invalid(format!(
                "The hyperparameter '{}' cannot be both static and tunable.",
                r.name()
            )));
        }
    }
    Ok(())
}

/// An image of sagebox's built-in algorithms declares its metrics; any other needs a metric
/// definition for the objective.
fn check_objective_metric(d: &Definition) -> ServiceResult<()> {
    let algo = d.definition.algorithm_specification.as_ref();
    let image = algo.and_then(|a| a.training_image.as_deref()).unwrap_or("");
    if image.is_empty() {
        return Err(invalid(
            "Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.",
        ));
    }
    let defined = algo
        .and_then(|a| a.metric_definitions.as_ref())
        .into_iter()
        .flatten()
        .any(|m| m.name.as_deref() == Some(d.objective.metric.as_str()));
    let builtin = matches!(
        crate::runtime::uris::resolve(image),
        Ok(crate::runtime::uris::ImageChoice::Emulated {
            recipe: "xgboost" | "linear-learner" | "kmeans" | "pca"
        })
    );
    if !defined && !builtin {
        return Err(invalid(
            "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric definitions.",
        ));
    }
    Ok(())
}

/// Early stopping: Auto (any strategy but Hyperband) or Hyperband's own.
fn stop_rule(
    strategy: StrategyKind,
    config: &HyperParameterTuningJobConfig,
) -> ServiceResult<Option<StopRule>> {
    let auto = config.training_job_early_stopping_type == Some(TrainingJobEarlyStoppingType::Auto);
    let hyperband = config
        .strategy_config
        .as_ref()
        .and_then(|c| c.hyperband_strategy_config.as_ref());
    if strategy != StrategyKind::Hyperband {
        if config.strategy_config.is_some() {
            return Err(invalid(
                "StrategyConfig can be specified only for the Hyperband strategy.",
            ));
        }
        return Ok(auto.then_some(StopRule::Auto));
    }
    if auto {
        return Err(invalid(
            "TrainingJobEarlyStoppingType must be Off for the Hyperband strategy: Hyperband stops training jobs early by itself.",
        ));
    }
    let min = hyperband.and_then(|h| h.min_resource).unwrap_or(1);
    let max = hyperband.and_then(|h| h.max_resource).unwrap_or(100);
    if min > max {
        return Err(invalid(format!(
            "MinResource ({min}) must be less than or equal to MaxResource ({max}) in HyperbandStrategyConfig."
        )));
    }
    Ok(Some(StopRule::Hyperband {
        min_resource: min.max(1) as u64,
        max_resource: max.max(1) as u64,
    }))
}

/// MaxNumberOfTrainingJobs (Grid: the number of combinations when not given) and
/// MaxParallelTrainingJobs, within the quotas.
fn limits(
    strategy: StrategyKind,
    config: &HyperParameterTuningJobConfig,
    definitions: &[Definition],
) -> ServiceResult<(u64, u64)> {
    let limits = config.resource_limits.as_ref();
    let given = limits
        .and_then(|l| l.max_number_of_training_jobs)
        .map(|n| n.max(1) as u64);
    let parallel = limits
        .and_then(|l| l.max_parallel_training_jobs)
        .map_or(1, |n| n.max(1) as u64);
    let max_jobs = if strategy == StrategyKind::Grid {
        let combinations: u64 = definitions
            .iter()
            .map(|d| d.space.combinations().unwrap_or(0))
            .sum();
        given.map_or(combinations, |g| g.min(combinations))
    } else {
        given.ok_or_else(|| {
            invalid(
                "ResourceLimits.MaxNumberOfTrainingJobs must be specified for the Bayesian, Random and Hyperband strategies.",
            )
        })?
    };
    for (quota, limit, asked) in [
        (
            "Maximum number of training jobs per hyperparameter tuning job",
            MAX_TRAINING_JOBS,
            max_jobs,
        ),
        (
            "Maximum number of concurrent training jobs per hyperparameter tuning job",
            MAX_PARALLEL_TRAINING_JOBS,
            parallel,
        ),
    ] {
        if asked > limit {
            return Err(ServiceError::LimitExceeded(format!(
                "The account-level service limit '{quota}' is {limit} Jobs, with current utilization of 0 Jobs and a request delta of {asked} Jobs. Please use AWS Service Quotas to request an increase for this quota."
            )));
        }
    }
    Ok((max_jobs, parallel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(config: serde_json::Value) -> CreateHyperParameterTuningJobRequest {
        serde_json::from_value(json!({
            "HyperParameterTuningJobName": "t",
            "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": {
                "AlgorithmSpecification": {"TrainingImage": "mine:1", "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
                "StaticHyperParameters": {"epochs": "3"},
                "RoleArn": "arn:aws:iam::000000000000:role/r",
                "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
                "StoppingCondition": {"MaxRuntimeInSeconds": 60},
            }
        }))
        .expect("a request")
    }

    fn refusal(config: serde_json::Value) -> String {
        match Plan::read(&request(config)) {
            Err(e) => e.to_string(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn a_grid_runs_every_combination_and_takes_categorical_ranges_only() {
        let plan = Plan::read(&request(json!({
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [
                {"Name": "a", "Values": ["1", "2", "3"]}, {"Name": "b", "Values": ["x", "y"]}]}
        })))
        .expect("a plan");
        assert_eq!((plan.max_jobs, plan.max_parallel), (6, 2));
        assert!(
            refusal(json!({
                "Strategy": "Grid",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
                "ResourceLimits": {"MaxParallelTrainingJobs": 2},
                "ParameterRanges": {"IntegerParameterRanges": [{"Name": "a", "MinValue": "1", "MaxValue": "3"}]}
            }))
            .starts_with("Only categorical parameters are supported when using the Grid search strategy")
        );
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let ranges =
            json!({"IntegerParameterRanges": [{"Name": "a", "MinValue": "1", "MaxValue": "3"}]});
        assert_eq!(
            refusal(
                json!({"Strategy": "Bayesian", "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "acc"},
                "ParameterRanges": ranges})
            ),
            "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric definitions."
        );
        assert!(
            refusal(
                json!({"Strategy": "Hyperband", "TrainingJobEarlyStoppingType": "Auto",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
                "ParameterRanges": ranges})
            )
            .starts_with("TrainingJobEarlyStoppingType must be Off")
        );
        assert!(
            refusal(json!({"Strategy": "Random",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 501, "MaxParallelTrainingJobs": 1},
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
                "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.1", "MaxValue": "1"}]}}))
            .contains("is 500 Jobs")
        );
        assert!(
            refusal(json!({"Strategy": "Random",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
                "ParameterRanges": {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1", "MaxValue": "3"}]}}))
            .contains("both static and tunable")
        );
    }
}
