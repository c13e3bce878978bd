//! SageMaker Pipelines: pipelines (versioned definitions) and their executions, which really
//! run. `definition` parses a pipeline definition (Version 2020-12-01) into steps and the DAG
//! their dependencies make; `expr` resolves the expressions inside step arguments (`Get`,
//! `Std:Join`, `Std:JsonGet`, parameters, execution variables); `condition` evaluates a
//! Condition step; `state` is what an execution stores; `executor` runs one execution, step by
//! step, each step as the real job its type names (`steps`); `resources` holds the pipelines'
//! and executions' operations.

pub mod api;
pub mod condition;
mod control;
pub mod definition;
mod events;
pub mod executor;
pub mod expr;
pub mod resources;
mod reuse;
mod scope;
pub mod state;
pub mod steps;
