//! umpire-sim: the simulation model and engine of umpire, as a library.
//!
//! It reads no clock, does no I/O and uses no OS randomness: every number comes
//! from [`rng`] streams keyed by the scenario's seed, so a result is a pure
//! function of the scenario (see ARCHITECTURE.md for the determinism contract).

pub mod analysis;
pub mod assignment;
pub mod bandit;
pub mod binomial;
pub mod cluster;
pub mod design;
pub mod effect;
pub mod experiment;
pub mod fuzz;
pub mod load;
pub mod method;
pub mod metric;
pub mod plugin;
pub mod population;
pub mod result;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod stats;
pub mod study;
pub mod sweep;
