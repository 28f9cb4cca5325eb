//! umpire-loadgen: the reference serving API for assignments and bandit
//! decisions ([`server`]), which runs umpire-sim's assignment and policy code
//! unchanged.

pub mod server;
