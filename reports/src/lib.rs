//! umpire-reports: renders results (experiment, bandit and load) as a
//! self-contained HTML report with SVG charts, a Markdown summary and JUnit
//! XML, and compares a suite run against a baseline.

pub mod result;

pub use result::{AnyResult, ExpectationRow, ReadError};
