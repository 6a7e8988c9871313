//! The server's own clock work: a ready hold whose pickup date has passed is cancelled
//! (`cancel_reason: "expired"`, its copy back on the shelf), so nobody has to run a cron job.
//!
//! Every instance runs the pass; it is safe with several over one database because the pass is
//! one store operation (`store::ops::Op::ExpireHolds`): it takes the writers' lock and reads
//! each hold's status under it, so a hold another instance (or a desk collecting it) already
//! moved is left alone, and each hold is expired once.

use std::time::Duration;

use chrono::Utc;

use crate::state::AppState;
use crate::store::Actor;
use crate::store::ops::{Op, Outcome};

/// Who the revisions of an expiry name.
pub const EXPIRY_ACTOR: &str = "shelfmark-server";

/// Expires what is due now; how many holds it cancelled.
pub async fn expire_due(state: &AppState) -> Result<usize, crate::store::StoreError> {
    let actor = Actor {
        name: EXPIRY_ACTOR.into(),
    };
    let mut total = 0;
    loop {
        let outcome = state
            .store
            .run(
                &actor,
                Op::ExpireHolds { now: Utc::now() },
                &state.config.rules(),
            )
            .await?;
        match outcome {
            // A full batch: more may be due.
            Outcome::Expired(n) if n > 0 => total += n,
            _ => return Ok(total),
        }
    }
}

/// Runs [`expire_due`] every `config.expiry_interval` until the task is dropped.
pub async fn run(state: AppState) {
    let interval = state.config.expiry_interval.max(Duration::from_millis(10));
    loop {
        match expire_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(holds = n, "ready holds past their pickup date expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire holds now; trying again later"),
        }
        tokio::time::sleep(interval).await;
    }
}
