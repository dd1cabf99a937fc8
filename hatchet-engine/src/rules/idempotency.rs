//! Trigger idempotency (engine-semantics §5.4): a workflow's `IdempotencyConfig` renders a
//! key from the run's input and metadata; while another run holds the key (until its TTL,
//! or with the STATUS method until that run ends) a trigger creates nothing and answers
//! ALREADY_EXISTS "idempotency key collision" with an `IdempotencyCollisionError` detail.

use std::time::{Duration, SystemTime};

use hatchet_rs_proto::{rpc, v1};
use serde_json::{Map, Value};
use tonic::{Code, Status};

use crate::expressions::{self, Vars};
use crate::state::State;

const RESERVED_PREFIX: &str = "hatchet_internal_";

#[derive(Debug, Clone)]
pub(crate) struct Claim {
    run_id: String,
    expires_at: SystemTime,
}

/// Renders the idempotency key of a trigger, as `evalIdempotencyKey` does.
pub(crate) fn render_key(
    config: &v1::IdempotencyConfig,
    input: &Value,
    metadata: &Map<String, Value>,
) -> Result<String, String> {
    let vars = Vars {
        input: Some(input),
        additional_metadata: Some(metadata),
        workflow_run_id: None,
        output: None,
        ..Vars::default()
    };
    let key = expressions::eval_string(&config.expression, &vars).map_err(|e| {
        format!(
            "failed to evaluate idempotency key expression {:?}: {e}",
            config.expression
        )
    })?;
    if key.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "idempotency key {key:?} uses reserved prefix {RESERVED_PREFIX:?}"
        ));
    }
    Ok(key)
}

const COLLISION: &str = "v1.IdempotencyCollisionError";
const BULK_COLLISION: &str = "v1.BulkTriggerIdempotencyCollisionError";
const COLLISION_MESSAGE: &str = "idempotency key collision";

/// The collision a [`collision`] status carries, if it is one.
pub(crate) fn collision_of(status: &Status) -> Option<v1::IdempotencyCollisionError> {
    if status.code() != Code::AlreadyExists {
        return None;
    }
    rpc::find_detail(status.details(), COLLISION)
}

/// A bulk trigger's answer when some runs collided: the others were created.
pub(crate) fn bulk_collision(
    created: Vec<String>,
    collisions: Vec<v1::IdempotencyCollisionError>,
) -> Status {
    let detail = v1::BulkTriggerIdempotencyCollisionError {
        successful_workflow_run_external_ids: created,
        collisions,
    };
    already_exists(BULK_COLLISION, &detail)
}

/// ALREADY_EXISTS with the collision detail the engine attaches.
pub(crate) fn collision(existing_run_id: &str, colliding_run_id: &str) -> Status {
    let detail = v1::IdempotencyCollisionError {
        existing_run_external_id: existing_run_id.to_owned(),
        colliding_run_external_id: colliding_run_id.to_owned(),
    };
    already_exists(COLLISION, &detail)
}

fn already_exists(type_name: &str, detail: &impl prost::Message) -> Status {
    let details = rpc::details_bytes(
        Code::AlreadyExists as i32,
        COLLISION_MESSAGE,
        type_name,
        detail,
    );
    Status::with_details(Code::AlreadyExists, COLLISION_MESSAGE, details.into())
}

impl State {
    /// The run holding `key` now, if any (expired claims are dropped).
    pub(crate) fn idempotency_holder(&mut self, key: &str, now: SystemTime) -> Option<String> {
        let claim = self.idempotency_claims.get(key)?;
        if claim.expires_at <= now {
            let at = claim.expires_at;
            self.idempotency_claims.remove(key);
            self.claim_expiries.remove(&(at, key.to_owned()));
            return None;
        }
        Some(claim.run_id.clone())
    }

    pub(crate) fn claim_idempotency_key(
        &mut self,
        key: String,
        run_id: &str,
        ttl: Duration,
        now: SystemTime,
    ) {
        // A TTL past what the clock holds: a century is as good as never.
        let expires_at = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        self.claim_expiries.insert((expires_at, key.clone()));
        self.idempotency_claims.insert(
            key,
            Claim {
                run_id: run_id.to_owned(),
                expires_at,
            },
        );
    }

    /// Drops the claims whose TTL ended (on the tick, whether or not the key is used again),
    /// so claims do not pile up for the life of the engine.
    pub(crate) fn expire_idempotency_claims(&mut self, now: SystemTime) {
        while let Some((at, key)) = self.claim_expiries.first().cloned() {
            if at > now {
                break;
            }
            self.claim_expiries.pop_first();
            // A key claimed again later has a later expiry of its own.
            if self
                .idempotency_claims
                .get(&key)
                .is_some_and(|c| c.expires_at == at)
            {
                self.idempotency_claims.remove(&key);
            }
        }
    }

    /// STATUS method: a finished run gives its key back.
    pub(crate) fn release_idempotency_key(&mut self, run_id: &str) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let status_method = run
            .version
            .idempotency
            .as_ref()
            .is_some_and(|c| c.method == Some(v1::IdempotencyMethod::Status as i32));
        if !status_method {
            return;
        }
        if let Some(key) = &run.idempotency_key
            && let Some(claim) = self
                .idempotency_claims
                .get(key)
                .filter(|c| c.run_id == run_id)
        {
            let at = claim.expires_at;
            let key = key.clone();
            self.idempotency_claims.remove(&key);
            self.claim_expiries.remove(&(at, key));
        }
    }
}
