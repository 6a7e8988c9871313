//! What the window says when a manager's action on an escalation found that something changed
//! meanwhile (a `409` with the server's current state, a `412`, or a chosen hold no longer on
//! offer). Such an action is an outcome, not an error: nothing was done, the view is refreshed,
//! and one of these sentences says what moved.

use serde_json::Value;
use uuid::Uuid;

/// What the window says when the escalation changed since its view was loaded.
pub const STALE_ESCALATION: &str = "The escalation changed on the server since this view was \
    loaded, so nothing was done. It has been refreshed: check it and try again.";

/// What a 409's `current` says changed: the hold that was chosen (`null`: cancelled at a
/// desk, which deletes it), or the escalation.
pub fn conflict_message(current: &Value) -> String {
    if current.is_null() {
        return "The hold you chose changed meanwhile (it was cancelled), so nothing was done. \
                The holds below are the current ones: choose again."
            .into();
    }
    let status = current
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("changed")
        .replace('_', " ");
    if current.get("hold_request_id").is_some() {
        if status == "open" {
            STALE_ESCALATION.into()
        } else {
            format!(
                "Someone settled this escalation meanwhile (it is now {status}), so nothing was \
                 done. This is its current state."
            )
        }
    } else {
        // A hold cancelled without a reason has "cancelled" as its reason: not said twice.
        let reason = current
            .get("cancel_reason")
            .and_then(|r| r.as_str())
            .filter(|r| *r != status)
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        format!(
            "The hold you chose changed meanwhile (it is now {status}{reason}), so nothing was \
             done. The holds below are the current ones: choose again."
        )
    }
}

/// Why a fresh detail no longer offers `chosen` for a reassignment, given the detail's active
/// holds as `(hold id, patron is premium)`: it is no longer an active hold on the book, or its
/// patron is premium now. None when it still is on offer.
pub fn hold_no_longer_offered(
    active_holds: impl IntoIterator<Item = (Uuid, bool)>,
    chosen: Uuid,
) -> Option<String> {
    let what = match active_holds.into_iter().find(|(id, _)| *id == chosen) {
        None => "it was cancelled",
        Some((_, true)) => "its patron is premium now",
        Some((_, false)) => return None,
    };
    Some(format!(
        "The hold you chose changed meanwhile ({what}), so nothing was done. The holds below \
         are the current ones: choose again."
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::{conflict_message, hold_no_longer_offered};

    #[test]
    fn a_conflict_says_whether_the_hold_or_the_escalation_moved() {
        let hold = json!({"id": "h", "patron_id": "p", "book_id": "b", "copy_id": null,
                          "status": "cancelled", "cancel_reason": "cancelled at the desk"});
        let m = conflict_message(&hold);
        assert!(
            m.starts_with(
                "The hold you chose changed meanwhile (it is now cancelled, cancelled at the desk)"
            ),
            "{m}"
        );
        let settled = json!({"id": "e", "hold_request_id": "r", "status": "purchase_flagged"});
        let m = conflict_message(&settled);
        assert!(m.contains("it is now purchase flagged"), "{m}");
        let stale = json!({"id": "e", "hold_request_id": "r", "status": "open"});
        assert!(conflict_message(&stale).contains("refreshed"));
        let deleted = conflict_message(&serde_json::Value::Null);
        assert!(
            deleted.starts_with("The hold you chose changed meanwhile (it was cancelled)"),
            "{deleted}"
        );
        let plain = json!({"id": "h", "status": "cancelled", "cancel_reason": "cancelled"});
        let m = conflict_message(&plain);
        assert!(m.contains("(it is now cancelled)"), "{m}");
    }

    #[test]
    fn a_chosen_hold_gone_or_now_premium_is_explained_one_still_offered_is_not() {
        let chosen = Uuid::from_u128(10);
        let m = hold_no_longer_offered([(Uuid::from_u128(11), false)], chosen).expect("gone");
        assert!(
            m.starts_with("The hold you chose changed meanwhile (it was cancelled)"),
            "{m}"
        );
        let m = hold_no_longer_offered([(chosen, true)], chosen).expect("premium");
        assert!(m.contains("(its patron is premium now)"), "{m}");
        assert_eq!(hold_no_longer_offered([(chosen, false)], chosen), None);
    }
}
