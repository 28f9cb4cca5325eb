//! Assignment endpoints: one unit in one experiment, or a batch of units in
//! several, with umpire-sim's hash assignment.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use umpire_sim::assignment::HashAssigner;
use umpire_sim::serve::{MAX_UNIT_ID_BYTES, ServedExperiment};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};

/// A served experiment with its bucket table built once.
pub struct ExperimentRuntime {
    /// The experiment as configured.
    pub config: ServedExperiment,
    assigner: HashAssigner,
}

impl ExperimentRuntime {
    /// Builds the experiment's bucket table.
    pub fn new(config: ServedExperiment) -> Self {
        // The prefix only matters for simulated ids; served ids are whole strings.
        let assigner = HashAssigner::new(&config.assignment, "");
        Self { config, assigner }
    }

    /// The assignment of `unit`, the same as the simulator's for that id. The id
    /// is not checked here (see [`check_unit`]).
    pub fn assign(&self, unit: &str) -> Assignment {
        let a = self.assign_ref(unit);
        Assignment {
            experiment: a.experiment.to_owned(),
            unit: a.unit.to_owned(),
            variant: a.variant.map(str::to_owned),
            bucket: a.bucket,
            in_experiment: a.in_experiment,
        }
    }

    /// [`Self::assign`], borrowing the names: what the handlers serialize.
    fn assign_ref<'a>(&'a self, unit: &'a str) -> AssignmentRef<'a> {
        let a = self.assigner.assign_id(unit);
        let variant = a
            .variant
            .and_then(|v| self.config.assignment.variants.get(v))
            .map(String::as_str);
        AssignmentRef {
            experiment: &self.config.name,
            unit,
            variant,
            bucket: a.bucket,
            in_experiment: a.variant.is_some(),
        }
    }
}

/// An [`Assignment`] borrowing its names, serialized the same way (the
/// fields in the same order), so an answer allocates no copies of them.
#[derive(Serialize)]
struct AssignmentRef<'a> {
    experiment: &'a str,
    unit: &'a str,
    variant: Option<&'a str>,
    bucket: f64,
    in_experiment: bool,
}

/// One unit's assignment in one experiment: the JSON answer of
/// `GET /v1/assign/{experiment}`, and each entry of a batch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Assignment {
    /// The experiment's name.
    pub experiment: String,
    /// The unit id as given.
    pub unit: String,
    /// The variant's name; null when the unit is not in the experiment.
    pub variant: Option<String>,
    /// The unit's hash value in [0, 1).
    pub bucket: f64,
    /// Whether the unit is in the experiment: false when it falls outside the
    /// coverage or the namespace.
    pub in_experiment: bool,
}

/// Checks a unit id: non-empty and at most [`MAX_UNIT_ID_BYTES`] bytes.
pub fn check_unit(unit: &str) -> Result<(), ApiError> {
    if unit.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_unit",
            "the unit id is empty",
        ));
    }
    if unit.len() > MAX_UNIT_ID_BYTES {
        return Err(ApiError::unprocessable(
            "invalid_unit",
            format!(
                "the unit id is {} bytes; the limit is {MAX_UNIT_ID_BYTES}",
                unit.len()
            ),
        ));
    }
    Ok(())
}

fn experiment<'a>(s: &'a AppState, name: &str) -> Result<&'a ExperimentRuntime, ApiError> {
    s.experiments
        .iter()
        .find(|e| e.config.name == name)
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_experiment",
                format!("no experiment named `{name}`"),
            )
        })
}

/// The query of `GET /v1/assign/{experiment}`: `?unit=ID`.
#[derive(Deserialize)]
pub struct UnitQuery {
    unit: Option<String>,
}

/// `GET /v1/assign/{experiment}?unit=ID`: the unit's [`Assignment`]. 404
/// `unknown_experiment`, 400 `missing_unit`, or 422 `invalid_unit`.
pub async fn get_one(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<UnitQuery>,
) -> Result<Response, ApiError> {
    let e = experiment(&s, &name)?;
    let Some(unit) = q.unit else {
        return Err(ApiError::bad_request(
            "missing_unit",
            "give the unit id as `?unit=ID`",
        ));
    };
    check_unit(&unit)?;
    Ok(Json(e.assign_ref(&unit)).into_response())
}

/// The body of `POST /v1/assign`: `{"units": [..], "experiments": [..]}`;
/// unknown members are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    units: Vec<String>,
    /// Experiments to assign; all served experiments when absent.
    experiments: Option<Vec<String>>,
}

/// The answer of `POST /v1/assign`.
#[derive(Serialize, Deserialize)]
pub struct BatchResponse {
    /// Unit by unit, each unit's experiments in the order asked.
    pub assignments: Vec<Assignment>,
}

/// `POST /v1/assign`: every unit in every experiment asked for (all when
/// none are named). 404 `unknown_experiment`; 422 `invalid_body` for no
/// units, `batch_too_large` when units × experiments exceeds
/// `server.max_batch`, or `invalid_unit`.
pub async fn post_batch(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Response, ApiError> {
    let exps: Vec<&ExperimentRuntime> = match &req.experiments {
        Some(names) => names
            .iter()
            .map(|n| experiment(&s, n))
            .collect::<Result<_, _>>()?,
        None => s.experiments.iter().collect(),
    };
    if req.units.is_empty() {
        return Err(ApiError::unprocessable("invalid_body", "`units` is empty"));
    }
    let size = req.units.len().saturating_mul(exps.len());
    if size > s.config.server.max_batch {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            format!(
                "{} units × {} experiments = {size} assignments; the limit is {} (server.max_batch)",
                req.units.len(),
                exps.len(),
                s.config.server.max_batch
            ),
        ));
    }
    for u in &req.units {
        check_unit(u)?;
    }
    let mut assignments = Vec::with_capacity(size);
    for u in &req.units {
        for e in &exps {
            assignments.push(e.assign_ref(u));
        }
    }
    Ok(Json(BatchAnswer { assignments }).into_response())
}

/// What `POST /v1/assign` serializes: a [`BatchResponse`] borrowing names.
#[derive(Serialize)]
struct BatchAnswer<'a> {
    assignments: Vec<AssignmentRef<'a>>,
}

#[cfg(test)]
mod tests {
    use umpire_sim::assignment::{Assignment as Design, HashVersion, Method};
    use umpire_sim::serve::ServedExperiment;

    use super::{BatchAnswer, BatchResponse, ExperimentRuntime};

    /// The borrowed answers are the documented ones, byte for byte, in and
    /// out of the experiment.
    #[test]
    fn borrowed_answers_serialize_as_the_owned_ones() {
        let e = ExperimentRuntime::new(ServedExperiment {
            name: "exp \"1\"".into(),
            assignment: Design {
                variants: vec!["control".into(), "treatment".into()],
                weights: vec![0.5, 0.5],
                coverage: 0.5,
                method: Method::Hash {
                    version: HashVersion::V2,
                    salt: "s".into(),
                    salt_per_replication: false,
                },
                namespace: None,
            },
        });
        let units: Vec<String> = (0..64).map(|i| format!("user-{i}")).collect();
        let owned: Vec<_> = units.iter().map(|u| e.assign(u)).collect();
        assert!(owned.iter().any(|a| a.in_experiment) && owned.iter().any(|a| !a.in_experiment));
        for (u, a) in units.iter().zip(&owned) {
            let b = e.assign_ref(u);
            assert_eq!(
                serde_json::to_string(a).ok(),
                serde_json::to_string(&b).ok()
            );
        }
        let batch = BatchResponse { assignments: owned };
        let answer = BatchAnswer {
            assignments: units.iter().map(|u| e.assign_ref(u)).collect(),
        };
        assert_eq!(
            serde_json::to_string(&batch).ok(),
            serde_json::to_string(&answer).ok()
        );
    }
}
