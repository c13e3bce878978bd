//! The in-task agent. On a cluster the host directories that the local engine bind-mounts into
//! a container are not on the node that runs it, so the container runs `sagebox agent exec --
//! <program>` instead: the agent fetches each bind's content from sagebox over HTTP, runs the
//! program, and returns the writable binds' content when it exits. `plan` is what the engine
//! computes and hands over in the environment, `serve` is sagebox's side, `exec` the agent's,
//! `pipe` its feeders of Pipe-mode channels.

pub mod bridge;
pub mod client;
pub mod exec;
pub mod mirror;
pub mod pipe;
pub mod plan;
pub mod serve;
pub mod sync;
pub mod tree;

pub use plan::{PLAN_ENV, Plan, PlannedBind, plan_for};
