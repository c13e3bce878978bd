//! Hyperparameter tuning jobs: CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
//! ListHyperParameterTuningJobs, StopHyperParameterTuningJob and
//! ListTrainingJobsForHyperParameterTuningJob. A supervisor per tuning job asks `search` for
//! hyperparameters, runs each as a real training job, and reads back their objective metrics.

pub mod search;
