//! umpire-loadgen: the reference serving API for assignments and bandit
//! decisions ([`server`]), which runs umpire-sim's assignment and policy code
//! unchanged, and the goose load generator that drives it ([`load`]).

pub mod load;
pub mod server;
