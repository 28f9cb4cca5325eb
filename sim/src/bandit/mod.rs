//! Multi-armed bandit policies for adaptive experiments.
//!
//! The layout matches experiments': [`model`] holds what a scenario is (the
//! environment, named policies, expectations), [`engine`] runs replications,
//! [`accumulator`] folds them into mergeable sums, and [`result`] turns those
//! into curves and verdicts. [`env`] holds the environments (means over time,
//! delay, batching), and [`theory`] the Bernoulli KL divergence and the
//! Lai–Robbins bound.
//!
//! [`policy`] holds the [`Policy`] trait and [`PolicyState`], one concrete type
//! that runs any [`PolicySpec`] and serialises its whole state, with one file
//! per policy family; [`beta`] holds the exact Gamma/Beta/normal samplers that
//! Thompson sampling spends most of its time in.
//!
//! Imports between these modules run one way only: `engine → accumulator,
//! model, env, policy`; `result → accumulator, model, env, policy`; `model → env,
//! policy`; `env, policy → theory`; `policy → beta`.

pub mod accumulator;
pub mod batch_policy;
pub mod beta;
pub mod contextual;
pub mod engine;
pub mod env;
pub mod features;
pub mod feedback;
pub mod linear;
pub mod lockstep;
pub mod model;
pub mod ope;
pub mod plugged;
pub mod policy;
pub mod result;
pub mod theory;
