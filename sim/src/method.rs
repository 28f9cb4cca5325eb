//! Analysis methods: how the looks of a replication are read and when a
//! method stops. Several methods run on the same simulated data (common random
//! numbers), so a scenario compares them side by side.
//!
//! [`METHOD_TYPES`] is the one list of method types with their parameters,
//! defaults and accepted values: the scenario reader reads a method's table
//! from it and turns a [`MethodError`] into a located problem, and a test
//! checks the table in scenarios/README.md against it.

use serde::{Deserialize, Serialize};

use crate::analysis::group_sequential::BoundaryKind;
use crate::analysis::multiple::Correction;

/// A parameter's default, as a scenario would write it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamDefault {
    /// A number.
    Number(f64),
    /// A name, e.g. a correction.
    Text(&'static str),
}

/// The values a parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// A number > 0.
    Positive,
    /// A number in [lo, hi).
    HalfOpen(f64, f64),
    /// A multiple-testing correction: one of [`CORRECTION_NAMES`], or its alias.
    Correction,
}

/// The names of the corrections, as the scenario writes them (`bh` is also
/// accepted for `benjamini_hochberg`).
pub const CORRECTION_NAMES: [&str; 4] = ["none", "bonferroni", "holm", "benjamini_hochberg"];

impl Rule {
    /// The accepted values in words, as problems show them.
    pub fn expected(self) -> String {
        match self {
            Rule::Positive => "positive".to_owned(),
            Rule::HalfOpen(lo, hi) => format!("in [{lo}, {hi})"),
            Rule::Correction => or_list(&CORRECTION_NAMES),
        }
    }
}

/// `a, b, c or d`.
pub fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A parameter of a method type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// The parameter's key in the method's scenario table.
    pub name: &'static str,
    /// Its value when the scenario leaves it out.
    pub default: ParamDefault,
    /// The values it accepts.
    pub rule: Rule,
}

/// A method type: the `type` a scenario names, and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MethodType {
    /// The `type` a scenario writes, e.g. `msprt`.
    pub name: &'static str,
    /// Its parameters, in the order [`MethodKind::params`] reports them.
    pub params: &'static [ParamSpec],
}

const fn number(name: &'static str, default: f64, rule: Rule) -> ParamSpec {
    ParamSpec {
        name,
        default: ParamDefault::Number(default),
        rule,
    }
}

/// Every method type, in the order problems list them.
pub const METHOD_TYPES: &[MethodType] = &[
    MethodType {
        name: "fixed",
        params: &[ParamSpec {
            name: "correction",
            default: ParamDefault::Text("none"),
            rule: Rule::Correction,
        }],
    },
    MethodType {
        name: "naive",
        params: &[],
    },
    MethodType {
        name: "msprt",
        params: &[number("tau", 0.1, Rule::Positive)],
    },
    MethodType {
        name: "pocock",
        params: &[],
    },
    MethodType {
        name: "obrien_fleming",
        params: &[],
    },
    MethodType {
        name: "spending_obrien_fleming",
        params: &[],
    },
    MethodType {
        name: "spending_pocock",
        params: &[],
    },
    MethodType {
        name: "bayesian",
        params: &[
            number("prior_a", 1.0, Rule::Positive),
            number("prior_b", 1.0, Rule::Positive),
            number("min_chance", 0.95, Rule::HalfOpen(0.5, 1.0)),
            number("max_relative_loss", 0.0025, Rule::Positive),
        ],
    },
];

impl MethodType {
    /// The method type called `name`, if any.
    pub fn named(name: &str) -> Option<&'static MethodType> {
        METHOD_TYPES.iter().find(|t| t.name == name)
    }

    /// `fixed, naive, … or bayesian`.
    pub fn names() -> String {
        or_list(&METHOD_TYPES.iter().map(|t| t.name).collect::<Vec<_>>())
    }
}

/// A parameter's value as given.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A number.
    Number(f64),
    /// A string, e.g. a correction's name.
    Text(String),
}

/// Why a method is not valid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MethodError {
    /// No method type has this name.
    #[error("unknown method type `{0}`")]
    UnknownType(String),
    /// A number outside its parameter's accepted range.
    #[error("{param} must be {}, found {value}", rule.expected())]
    OutOfRange {
        /// The parameter's name.
        param: &'static str,
        /// The range it must lie in.
        rule: Rule,
        /// The value given.
        value: f64,
    },
    /// A name the parameter does not accept (e.g. an unknown correction).
    #[error("unknown {param} `{value}`")]
    UnknownName {
        /// The parameter's name.
        param: &'static str,
        /// The rule listing the accepted names.
        rule: Rule,
        /// The name given.
        value: String,
    },
    /// A number where a string is expected, or the reverse.
    #[error("{param} must be a {expected}")]
    WrongType {
        /// The parameter's name.
        param: &'static str,
        /// `number` or `string`.
        expected: &'static str,
    },
    /// CUPED was asked for on a method type without p-values (Bayesian).
    #[error("CUPED is not available for {0} methods")]
    CupedUnavailable(&'static str),
}

impl ParamSpec {
    /// Whether `value` is one this parameter accepts.
    pub fn check(&self, value: &ParamValue) -> Result<(), MethodError> {
        let param = self.name;
        match (self.rule, value) {
            (Rule::Positive, &ParamValue::Number(x)) if x > 0.0 => Ok(()),
            (Rule::HalfOpen(lo, hi), &ParamValue::Number(x)) if (lo..hi).contains(&x) => Ok(()),
            (Rule::Positive | Rule::HalfOpen(..), &ParamValue::Number(value)) => {
                Err(MethodError::OutOfRange {
                    param,
                    rule: self.rule,
                    value,
                })
            }
            (Rule::Correction, ParamValue::Text(name)) => match Correction::from_name(name) {
                Some(_) => Ok(()),
                None => Err(MethodError::UnknownName {
                    param,
                    rule: self.rule,
                    value: name.clone(),
                }),
            },
            (Rule::Correction, ParamValue::Number(_)) => Err(MethodError::WrongType {
                param,
                expected: "string",
            }),
            (_, ParamValue::Text(_)) => Err(MethodError::WrongType {
                param,
                expected: "number",
            }),
        }
    }

    fn default_value(&self) -> ParamValue {
        match self.default {
            ParamDefault::Number(x) => ParamValue::Number(x),
            ParamDefault::Text(s) => ParamValue::Text(s.to_owned()),
        }
    }
}

/// A method's decision rule and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MethodKind {
    /// The fixed-horizon test at the last look only, with an optional
    /// multiple-testing correction across all comparisons.
    Fixed {
        /// The correction applied at the last look.
        correction: Correction,
    },
    /// The fixed-horizon test at every look; stops at the first p < alpha.
    Naive,
    /// Mixture SPRT with a normal mixing distribution; `tau` is its standard
    /// deviation in units of the metric's baseline standard deviation.
    Msprt {
        /// Mixing standard deviation, in baseline standard deviations of the metric (> 0).
        tau: f64,
    },
    /// Group-sequential boundaries computed for the planned look fractions.
    GroupSequential {
        /// The boundary family.
        boundary: BoundaryKind,
    },
    /// Posterior chance to beat control and expected loss; stops when the
    /// leader's chance ≥ `min_chance` and its expected loss relative to the
    /// control mean < `max_relative_loss`. Beta(prior_a, prior_b) priors for
    /// Bernoulli metrics, flat priors otherwise.
    Bayesian {
        /// Beta prior's first parameter for Bernoulli metrics (> 0).
        prior_a: f64,
        /// Beta prior's second parameter for Bernoulli metrics (> 0).
        prior_b: f64,
        /// Posterior chance of the leading arm being better needed to stop, in [0.5, 1).
        min_chance: f64,
        /// The leader's expected loss relative to the control mean must be below this to stop (> 0).
        max_relative_loss: f64,
    },
    /// A method plugged in through the library API
    /// ([`crate::plugin::AnalysisMethod`]), shown in results as
    /// `{"type": "plugin"}`. Not a method type: a scenario cannot name it.
    Plugin,
}

impl MethodKind {
    /// The method type a scenario writes, e.g. `msprt` or `obrien_fleming`.
    pub fn type_name(&self) -> &'static str {
        match self {
            MethodKind::Fixed { .. } => "fixed",
            MethodKind::Naive => "naive",
            MethodKind::Msprt { .. } => "msprt",
            MethodKind::GroupSequential { boundary } => match boundary {
                BoundaryKind::Pocock => "pocock",
                BoundaryKind::OBrienFleming => "obrien_fleming",
                BoundaryKind::SpendingObrienFleming => "spending_obrien_fleming",
                BoundaryKind::SpendingPocock => "spending_pocock",
            },
            MethodKind::Bayesian { .. } => "bayesian",
            MethodKind::Plugin => "plugin",
        }
    }

    /// Whether the method reports p-values (Bayesian decisions do not).
    pub fn has_p_values(&self) -> bool {
        !matches!(self, MethodKind::Bayesian { .. })
    }

    /// The method of type `ty` with the parameters `given` names, and the
    /// defaults of [`METHOD_TYPES`] for the others; every value is checked
    /// against its rule.
    pub fn from_params(
        ty: &str,
        given: impl Fn(&str) -> Option<ParamValue>,
    ) -> Result<MethodKind, MethodError> {
        let spec = MethodType::named(ty).ok_or_else(|| MethodError::UnknownType(ty.to_owned()))?;
        let mut values = Vec::with_capacity(spec.params.len());
        for p in spec.params {
            let v = given(p.name).unwrap_or_else(|| p.default_value());
            p.check(&v)?;
            values.push(v);
        }
        let num = |i: usize| match values[i] {
            ParamValue::Number(x) => x,
            ParamValue::Text(_) => unreachable!("checked by the rule"),
        };
        let boundary = |boundary| MethodKind::GroupSequential { boundary };
        Ok(match ty {
            "fixed" => MethodKind::Fixed {
                correction: match &values[0] {
                    ParamValue::Text(name) => Correction::from_name(name),
                    ParamValue::Number(_) => None,
                }
                .expect("checked by the rule"),
            },
            "naive" => MethodKind::Naive,
            "msprt" => MethodKind::Msprt { tau: num(0) },
            "pocock" => boundary(BoundaryKind::Pocock),
            "obrien_fleming" => boundary(BoundaryKind::OBrienFleming),
            "spending_obrien_fleming" => boundary(BoundaryKind::SpendingObrienFleming),
            "spending_pocock" => boundary(BoundaryKind::SpendingPocock),
            "bayesian" => MethodKind::Bayesian {
                prior_a: num(0),
                prior_b: num(1),
                min_chance: num(2),
                max_relative_loss: num(3),
            },
            other => return Err(MethodError::UnknownType(other.to_owned())),
        })
    }

    /// The parameters of this method, in the order of its [`MethodType`].
    pub fn params(&self) -> Vec<ParamValue> {
        match *self {
            MethodKind::Fixed { correction } => {
                vec![ParamValue::Text(correction.name().to_owned())]
            }
            MethodKind::Naive | MethodKind::GroupSequential { .. } | MethodKind::Plugin => {
                Vec::new()
            }
            MethodKind::Msprt { tau } => vec![ParamValue::Number(tau)],
            MethodKind::Bayesian {
                prior_a,
                prior_b,
                min_chance,
                max_relative_loss,
            } => [prior_a, prior_b, min_chance, max_relative_loss]
                .map(ParamValue::Number)
                .to_vec(),
        }
    }

    /// Whether every parameter is one its rule accepts (a method built in
    /// code, or read back from a result, has not been through the reader).
    /// A plug-in is not a method type, so it is not valid in a scenario.
    pub fn validate(&self) -> Result<(), MethodError> {
        let Some(spec) = MethodType::named(self.type_name()) else {
            return Err(MethodError::UnknownType(self.type_name().to_owned()));
        };
        spec.params
            .iter()
            .zip(self.params())
            .try_for_each(|(p, v)| p.check(&v))
    }
}

/// An analysis method as a scenario names and configures it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// The method's name (its key under `[analysis.methods]`), as results show it.
    pub name: String,
    /// The decision rule and its parameters.
    pub kind: MethodKind,
    /// Regression-adjust each metric with its pre-period covariate (CUPED).
    pub cuped: bool,
}

impl Method {
    /// Whether the parameters are valid and CUPED, if asked for, applies.
    pub fn validate(&self) -> Result<(), MethodError> {
        self.kind.validate()?;
        if self.cuped && !self.kind.has_p_values() {
            return Err(MethodError::CupedUnavailable(self.kind.type_name()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_builds_from_its_defaults_and_reports_them_back() {
        for t in METHOD_TYPES {
            let kind = MethodKind::from_params(t.name, |_| None).unwrap();
            assert_eq!(kind.type_name(), t.name);
            let defaults: Vec<_> = t.params.iter().map(ParamSpec::default_value).collect();
            assert_eq!(kind.params(), defaults, "{}", t.name);
            assert_eq!(kind.validate(), Ok(()));
        }
    }

    #[test]
    fn values_outside_a_rule_are_typed_errors() {
        let given = |v: f64| move |n: &str| (n == "min_chance").then_some(ParamValue::Number(v));
        assert_eq!(
            MethodKind::from_params("bayesian", given(1.0)),
            Err(MethodError::OutOfRange {
                param: "min_chance",
                rule: Rule::HalfOpen(0.5, 1.0),
                value: 1.0
            })
        );
        assert!(MethodKind::from_params("bayesian", given(0.5)).is_ok());
        let tau = MethodKind::Msprt { tau: 0.0 };
        assert_eq!(
            tau.validate().unwrap_err().to_string(),
            "tau must be positive, found 0"
        );
        let bh = |n: &str| (n == "correction").then(|| ParamValue::Text("bh".to_owned()));
        assert_eq!(
            MethodKind::from_params("fixed", bh),
            Ok(MethodKind::Fixed {
                correction: Correction::BenjaminiHochberg
            })
        );
        assert_eq!(
            MethodKind::from_params("sprt", |_| None),
            Err(MethodError::UnknownType("sprt".to_owned()))
        );
    }

    /// Plug-ins appear in results as `{"type": "plugin"}`, but a scenario
    /// cannot name one: the reader's types and validation refuse it.
    #[test]
    fn a_plugin_kind_serialises_but_is_no_method_type() {
        let json = serde_json::to_string(&MethodKind::Plugin).unwrap();
        assert_eq!(json, r#"{"type":"plugin"}"#);
        let back: MethodKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, MethodKind::Plugin);
        assert_eq!(
            MethodKind::from_params("plugin", |_| None),
            Err(MethodError::UnknownType("plugin".to_owned()))
        );
        assert_eq!(
            MethodKind::Plugin.validate(),
            Err(MethodError::UnknownType("plugin".to_owned()))
        );
        assert!(MethodType::named("plugin").is_none());
    }

    #[test]
    fn cuped_is_refused_for_bayesian_methods_only() {
        let method = |ty: &str, cuped| Method {
            name: ty.to_owned(),
            kind: MethodKind::from_params(ty, |_| None).unwrap(),
            cuped,
        };
        assert_eq!(
            method("bayesian", true).validate(),
            Err(MethodError::CupedUnavailable("bayesian"))
        );
        assert_eq!(method("bayesian", false).validate(), Ok(()));
        assert_eq!(method("msprt", true).validate(), Ok(()));
    }
}
