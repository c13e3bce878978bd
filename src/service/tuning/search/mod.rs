//! The search behind a hyperparameter tuning job: which hyperparameters to train next (`Search`)
//! and which running training job to stop early (`Stopper`). Pure computation, no I/O: the tuning
//! supervisor feeds it what its training jobs reported and acts on the answers.
//!
//! The supervisor's side of the contract:
//! - `Space::from_ranges` reads ParameterRanges once; its error text is the ValidationException
//!   message CreateHyperParameterTuningJob answers with.
//! - `new_search` is called once per tuning job. `propose` is called whenever training-job slots
//!   are free, with every trial so far (running ones have `objective: None, finished: false`),
//!   and returns at most `n` new points; an empty answer means the search has nothing more to
//!   try (a grid that is exhausted).
//! - `new_stopper` gives the early-stopping rule (None: jobs are never stopped early). Each time a
//!   running job reports its objective metric, the supervisor calls `should_stop` with every
//!   job's objective values in report order; `true` means stop that job now (SageMaker then marks
//!   it Stopped with its final metric kept).

use std::collections::{BTreeMap, HashMap};

mod bayesian;
mod gp;
mod grid;
mod hyperband;
mod median;
mod random;
mod rng;
mod space;

pub use space::{AUTO_LOG_RATIO, MAX_TUNED_PARAMETERS};

/// How values are spread over a numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    Auto,
    Linear,
    Logarithmic,
    ReverseLogarithmic,
}

/// One hyperparameter's range, as ParameterRanges declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    Integer {
        name: String,
        min: i64,
        max: i64,
        scaling: Scaling,
    },
    Continuous {
        name: String,
        min: f64,
        max: f64,
        scaling: Scaling,
    },
    Categorical {
        name: String,
        values: Vec<String>,
    },
}

impl Range {
    pub fn name(&self) -> &str {
        match self {
            Range::Integer { name, .. }
            | Range::Continuous { name, .. }
            | Range::Categorical { name, .. } => name,
        }
    }
}

/// The search space: every range, in the order ParameterRanges lists them (Integer, Continuous,
/// then Categorical).
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub ranges: Vec<Range>,
}

/// A point of the space: hyperparameter name → value as the training job's HyperParameters
/// carry it (text).
pub type Point = BTreeMap<String, String>;

/// Whether the objective is to be minimized or maximized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Minimize,
    Maximize,
}

/// The search strategies of HyperParameterTuningJobConfig.Strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyKind {
    Bayesian,
    Random,
    Grid,
    Hyperband,
}

/// One training job the search has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub point: Point,
    /// The final objective metric; None while running, or when the job failed or never
    /// reported it.
    pub objective: Option<f64>,
    pub finished: bool,
}

/// Everything a search needs to start.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub strategy: StrategyKind,
    pub space: Space,
    pub goal: Goal,
    /// RandomSeed, or one sagebox drew when the request gave none.
    pub seed: u64,
    /// ResourceLimits.MaxNumberOfTrainingJobs, when given.
    pub max_jobs: Option<u64>,
    /// Trials of the parent jobs of a WarmStartConfig, seeding the search.
    pub warm_start: Vec<Trial>,
}

/// Proposes the hyperparameters of the next training jobs.
pub trait Search: Send {
    fn propose(&mut self, trials: &[Trial], n: usize) -> Vec<Point>;
}

/// Decides whether a running training job should stop early.
pub trait Stopper: Send {
    /// `job`'s objective values so far (in report order) are `curves[job]`.
    fn should_stop(&mut self, job: &str, curves: &HashMap<String, Vec<f64>>) -> bool;
}

/// When early stopping applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRule {
    /// TrainingJobEarlyStoppingType Auto.
    Auto,
    /// The Hyperband strategy's own stopping, with HyperbandStrategyConfig's resources
    /// (counted in objective-metric reports).
    Hyperband {
        min_resource: u64,
        max_resource: u64,
    },
}

impl Space {
    /// Reads ParameterRanges; the error is the ValidationException message.
    pub fn from_ranges(
        ranges: &crate::aws::model::typed::sagemaker::ParameterRanges,
    ) -> Result<Space, String> {
        use crate::aws::model::typed::sagemaker::HyperParameterScalingType as S;
        let scaling = |s: Option<&S>| match s {
            Some(S::Linear) => Scaling::Linear,
            Some(S::Logarithmic) => Scaling::Logarithmic,
            Some(S::ReverseLogarithmic) => Scaling::ReverseLogarithmic,
            _ => Scaling::Auto,
        };
        let mut out = Vec::new();
        for r in ranges.integer_parameter_ranges.iter().flatten() {
            let name = r.name.clone().unwrap_or_default();
            let parse = |v: &Option<String>| {
                v.as_deref()
                    .unwrap_or("")
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| {
                        format!("The value of the hyperparameter '{name}' must be an integer.")
                    })
            };
            out.push(Range::Integer {
                min: parse(&r.min_value)?,
                max: parse(&r.max_value)?,
                scaling: scaling(r.scaling_type.as_ref()),
                name,
            });
        }
        for r in ranges.continuous_parameter_ranges.iter().flatten() {
            let name = r.name.clone().unwrap_or_default();
            let parse = |v: &Option<String>| {
                v.as_deref()
                    .unwrap_or("")
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| {
                        format!("The value of the hyperparameter '{name}' must be a number.")
                    })
            };
            out.push(Range::Continuous {
                min: parse(&r.min_value)?,
                max: parse(&r.max_value)?,
                scaling: scaling(r.scaling_type.as_ref()),
                name,
            });
        }
        for r in ranges.categorical_parameter_ranges.iter().flatten() {
            out.push(Range::Categorical {
                name: r.name.clone().unwrap_or_default(),
                values: r.values.clone().unwrap_or_default(),
            });
        }
        let space = Space { ranges: out };
        space.validate()?;
        Ok(space)
    }
}

/// The search for a tuning job: Bayesian optimization, random search (Random, and Hyperband's
/// proposals), or the grid of every categorical combination.
pub fn new_search(config: SearchConfig) -> Box<dyn Search> {
    match config.strategy {
        StrategyKind::Bayesian => Box::new(bayesian::BayesianSearch::new(config)),
        StrategyKind::Random | StrategyKind::Hyperband => {
            Box::new(random::RandomSearch::new(config))
        }
        StrategyKind::Grid => Box::new(grid::GridSearch::new(config)),
    }
}

/// The early-stopping rule, if any: the median stopping rule for TrainingJobEarlyStoppingType
/// Auto, asynchronous successive halving for Hyperband.
pub fn new_stopper(rule: StopRule, goal: Goal) -> Option<Box<dyn Stopper>> {
    Some(match rule {
        StopRule::Auto => Box::new(median::MedianStopper::new(goal)),
        StopRule::Hyperband {
            min_resource,
            max_resource,
        } => Box::new(hyperband::HyperbandStopper::new(
            min_resource,
            max_resource,
            goal,
        )),
    })
}

/// Whether objective `a` is better than `b` for the goal (NaN is never better).
pub(crate) fn better(goal: Goal, a: f64, b: f64) -> bool {
    match goal {
        Goal::Minimize => a < b,
        Goal::Maximize => a > b,
    }
}

#[cfg(test)]
mod tests;
