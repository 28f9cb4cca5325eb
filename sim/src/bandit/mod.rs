//! Multi-armed bandit policies for adaptive experiments.
//!
//! [`env`] holds the environments (means over time, delay, batching), [`run`]
//! the replication runner and its accumulators, and [`result`] the scenario
//! and result types.
//!
//! [`policy`] holds the [`Policy`] trait and [`PolicyState`], one concrete type
//! that runs any [`PolicySpec`] and serialises its whole state; [`beta`] holds
//! the exact Gamma/Beta/normal samplers that Thompson sampling spends most of
//! its time in.

pub mod beta;
pub mod env;
pub mod policy;
pub mod result;
pub mod run;

pub use policy::{Policy, PolicyError, PolicySpec, PolicyState};
