//! The push verdict: what the sync engine does with the server's answer to one pushed edit.
//!
//! Pushing an outbox entry is a conditional write (PROTOCOL.md, "Writes"); the answer may be an
//! acknowledgement, a conflict to merge, a refusal to keep, or trouble that may pass. Reading
//! the answer is protocol, not I/O, so it lives here as one pure function ([`judge`]) with a
//! table test, and the client only carries the [`Verdict`] out (HTTP and cache calls).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::RecordType;
use crate::merge::{MergeSession, SessionError};
use crate::wire::{Duplicate, EditConflict, InUse, Problem};

/// What an outbox entry asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum EditOp {
    /// `PUT` with `If-None-Match: *`.
    Create,
    /// `PUT` with `If-Match: <base_etag>`.
    Update,
    /// `DELETE` with `If-Match: <base_etag>`.
    Delete,
}

impl EditOp {
    pub fn as_str(self) -> &'static str {
        match self {
            EditOp::Create => "create",
            EditOp::Update => "update",
            EditOp::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<EditOp> {
        [EditOp::Create, EditOp::Update, EditOp::Delete]
            .into_iter()
            .find(|op| op.as_str() == s)
    }
}

/// Why an edit waits in the conflict inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum ConflictReason {
    /// The server's record moved and the merge left conflicts (`409 edit-conflict`).
    EditConflict,
    /// The record was deleted on the server.
    Deleted,
    /// Another record holds the same ISBN or barcode (`409 duplicate`).
    Duplicate,
}

impl ConflictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::EditConflict => "edit-conflict",
            ConflictReason::Deleted => "deleted",
            ConflictReason::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<ConflictReason> {
        [
            ConflictReason::EditConflict,
            ConflictReason::Deleted,
            ConflictReason::Duplicate,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pushed edit, as far as the verdict needs it (an outbox entry's op, kind, body and base).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operation<'a> {
    pub op: EditOp,
    pub kind: RecordType,
    /// The edited record (None for a delete).
    pub body: Option<&'a Value>,
    /// The server state the edit started from (None for a create).
    pub base: Option<&'a Value>,
}

/// What came back with the answer.
#[derive(Debug, Clone)]
pub enum Body {
    /// Nothing was read (the success of a delete).
    Empty,
    /// The record, in a success.
    Record(Value),
    /// A refusal's `application/problem+json`.
    Problem(Problem),
    /// A refusal whose body is not a problem: a stand-in problem made of its status and text.
    NotProblem(Problem),
}

/// The server's answer to one write.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    pub body: Body,
}

/// What to tell the librarian about a conflict.
pub const DELETED_ON_SERVER: &str = "the record was deleted on the server";

/// An edit that needs the librarian.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictVerdict {
    /// The merge with theirs left conflicts.
    Edit { etag: String, theirs: Value },
    /// The record was deleted on the server.
    Deleted,
    /// Another record holds the same unique value.
    Duplicate {
        existing_id: Option<Uuid>,
        detail: String,
    },
}

impl ConflictVerdict {
    pub fn reason(&self) -> ConflictReason {
        match self {
            ConflictVerdict::Edit { .. } => ConflictReason::EditConflict,
            ConflictVerdict::Deleted => ConflictReason::Deleted,
            ConflictVerdict::Duplicate { .. } => ConflictReason::Duplicate,
        }
    }

    /// The sentence kept with the inbox entry.
    pub fn detail(&self) -> Option<String> {
        match self {
            ConflictVerdict::Edit { .. } => None,
            ConflictVerdict::Deleted => Some(DELETED_ON_SERVER.to_owned()),
            ConflictVerdict::Duplicate { detail, .. } => Some(detail.clone()),
        }
    }

    /// The record that already holds the unique value, kept with the inbox entry so the merge
    /// screen can open it (the sentence names no id: a person reads it).
    pub fn existing_id(&self) -> Option<Uuid> {
        match self {
            ConflictVerdict::Duplicate { existing_id, .. } => *existing_id,
            _ => None,
        }
    }
}

/// What to do with one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The server took the edit: the cache takes its answer (None: a deletion, or an answer
    /// without ETag or body).
    Ack(Option<(String, Value)>),
    /// The server already holds exactly this edit (an earlier push whose answer was lost):
    /// acknowledged with the server's state.
    AlreadyApplied { etag: String, theirs: Value },
    /// The server moved and the merge is clean: the edit now starts from theirs and is pushed
    /// again with the merged record.
    Rebase {
        etag: String,
        theirs: Value,
        merged: Value,
    },
    /// The edit goes to the conflict inbox.
    Conflict(ConflictVerdict),
    /// Every copy is taken: the hold is lost (the escalation opened for a premium patron named
    /// when there is one). Kept with the server's answer, never retried.
    HoldLost {
        escalation_id: Option<Uuid>,
        answer: Value,
    },
    /// The server refused the edit for good: kept as failed with its problem.
    Failed { problem: Value },
    /// Trouble that may pass (5xx, 429): stop the push, try again later.
    RetryLater {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The session is no longer valid (401).
    SignInAgain { detail: Option<String> },
    /// A stricter server answered a stale `If-Match` with 412 and no state: fetch the current
    /// state and judge that ([`judge_current`]).
    FetchCurrent,
}

/// Why an answer could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    #[error("a 409 without its merge data")]
    NoMergeData(#[source] serde_json::Error),
    #[error("cannot merge")]
    Merge(#[from] SessionError),
}

/// What to do with `answer` to `edit`.
pub fn judge(edit: &Operation<'_>, answer: Answer) -> Result<Verdict, VerdictError> {
    let Answer {
        status,
        etag,
        retry_after,
        body,
    } = answer;
    if (200..300).contains(&status) {
        return Ok(Verdict::Ack(match (etag, body) {
            (Some(tag), Body::Record(data)) => Some((tag, data)),
            _ => None,
        }));
    }
    let (problem, from_server) = match body {
        Body::Problem(p) => (p, true),
        Body::NotProblem(p) => (p, false),
        Body::Empty | Body::Record(_) => (stand_in(status), false),
    };
    if status == 401 {
        return Ok(Verdict::SignInAgain {
            detail: from_server.then_some(problem.detail),
        });
    }
    match (status, problem.name(), edit.op) {
        (429, _, _) | (500..=599, _, _) => Ok(Verdict::RetryLater {
            status,
            retry_after,
        }),
        // A retried delete whose first answer was lost.
        (404, _, EditOp::Delete) => Ok(Verdict::Ack(None)),
        (404, _, EditOp::Update) => Ok(Verdict::Conflict(ConflictVerdict::Deleted)),
        (409, "edit-conflict", _) => {
            let c: EditConflict = serde_json::from_value(Value::Object(problem.extensions))
                .map_err(VerdictError::NoMergeData)?;
            judge_theirs(edit, c.current_etag, c.current)
        }
        (412, _, _) => Ok(Verdict::FetchCurrent),
        (409, "hold-unavailable", EditOp::Create) => Ok(Verdict::HoldLost {
            escalation_id: escalation_of_lost_hold(&problem),
            answer: problem_json(&problem),
        }),
        // Others still depend on the record (a book's copies): nothing to merge, the delete is
        // refused with what to end first. Kept as failed, like any refusal.
        (409, "in-use", _) => Ok(Verdict::Failed {
            problem: in_use_refusal(edit.kind, problem),
        }),
        (409, "duplicate", _) => Ok(Verdict::Conflict(ConflictVerdict::Duplicate {
            existing_id: existing_of_duplicate(&problem),
            detail: problem.detail,
        })),
        _ => Ok(Verdict::Failed {
            problem: problem_json(&problem),
        }),
    }
}

/// What to do once the current state was fetched after a 412 (None: the record is gone).
pub fn judge_current(
    edit: &Operation<'_>,
    current: Option<(String, Value)>,
) -> Result<Verdict, VerdictError> {
    match current {
        Some((etag, theirs)) => judge_theirs(edit, etag, theirs),
        None => Ok(Verdict::Conflict(ConflictVerdict::Deleted)),
    }
}

/// The server's record moved to `theirs`: already applied, a clean merge to push again, or a
/// conflict for the librarian.
fn judge_theirs(
    edit: &Operation<'_>,
    etag: String,
    theirs: Value,
) -> Result<Verdict, VerdictError> {
    if edit.body == Some(&theirs) || (edit.op == EditOp::Create && same_record(edit.body, &theirs))
    {
        return Ok(Verdict::AlreadyApplied { etag, theirs });
    }
    // A hold or a loan moves from status to status; the server sets everything else. If the
    // record is already where this desk wanted it (returned at another desk too), that is
    // done; if it moved elsewhere (collected, expired), this desk's step is refused, with
    // what the record now is.
    if edit.op == EditOp::Update && matches!(edit.kind, RecordType::Hold | RecordType::Loan) {
        let status = |v: Option<&Value>| {
            v.and_then(|v| v.get("status"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let now = status(Some(&theirs));
        if status(edit.body) == now {
            return Ok(Verdict::AlreadyApplied { etag, theirs });
        }
        let now = now.unwrap_or_default().replace('_', " ");
        return Ok(Verdict::Failed {
            problem: serde_json::json!({
                "type": "/problems/edit-conflict",
                "title": "Changed meanwhile",
                "status": 409,
                "detail": format!(
                    "Another desk got there first: at the server this {} is now {now}.",
                    edit.kind.as_str()
                ),
                "current": theirs,
                "current_etag": etag,
            }),
        });
    }
    let clean = match (edit.op, edit.base, edit.body) {
        (EditOp::Update, Some(base), Some(mine)) => {
            match MergeSession::new(edit.kind, base, mine, &theirs) {
                Ok(session) => session.finish().ok(),
                // Holds, escalations and purchase requests are not edited field by field.
                Err(SessionError::NotMergeable(_)) => None,
                Err(e) => return Err(e.into()),
            }
        }
        _ => None,
    };
    Ok(match clean {
        Some(merged) => Verdict::Rebase {
            etag,
            theirs,
            merged,
        },
        None => Verdict::Conflict(ConflictVerdict::Edit { etag, theirs }),
    })
}

/// A create met an existing record: the same one (our earlier create whose answer was lost)
/// when every field we sent matches; fields we left null are the server's to fill (a hold's
/// copy).
fn same_record(mine: Option<&Value>, theirs: &Value) -> bool {
    match (mine, theirs) {
        (Some(Value::Object(mine)), Value::Object(theirs)) => mine
            .iter()
            .all(|(k, v)| v.is_null() || theirs.get(k).is_none_or(|t| t == v)),
        _ => false,
    }
}

/// A `409 in-use` as the desk keeps it: the server's problem, its detail the plain reason
/// naming the dependents ("This book still has 3 copies: delete them first."). Without
/// readable dependents the server's own detail stays.
fn in_use_refusal(kind: RecordType, mut problem: Problem) -> Value {
    if let Ok(in_use) = serde_json::from_value::<InUse>(Value::Object(problem.extensions.clone())) {
        problem.detail = in_use.reason(kind);
    }
    problem_json(&problem)
}

/// The record that already holds the unique value, named by a `409 duplicate`.
pub fn existing_of_duplicate(problem: &Problem) -> Option<Uuid> {
    serde_json::from_value::<Duplicate>(Value::Object(problem.extensions.clone()))
        .ok()
        .map(|d| d.existing_id)
}

/// The escalation a `409 hold-unavailable` opened (for a premium patron).
pub fn escalation_of_lost_hold(problem: &Problem) -> Option<Uuid> {
    problem
        .extensions
        .get("escalation_id")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The problem of a refusal that came without a body.
fn stand_in(status: u16) -> Problem {
    Problem {
        kind: "about:blank".into(),
        title: "error".into(),
        status,
        detail: String::new(),
        errors: Vec::new(),
        extensions: serde_json::Map::new(),
    }
}

fn problem_json(problem: &Problem) -> Value {
    serde_json::to_value(problem).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "01890000-0000-7000-8000-000000000001";

    fn book(title: &str, year: i32) -> Value {
        json!({"id": ID, "isbn": "9780306406157", "title": title, "authors": [], "publisher": "",
               "year": year, "subjects": [], "summary": "", "notes": ""})
    }

    fn problem(status: u16, name: &str, extensions: Value) -> Body {
        let Value::Object(extensions) = extensions else {
            unreachable!("extensions are an object")
        };
        Body::Problem(Problem {
            kind: format!("/problems/{name}"),
            title: name.into(),
            status,
            detail: format!("{name} detail"),
            errors: Vec::new(),
            extensions,
        })
    }

    fn answer(status: u16, body: Body) -> Answer {
        Answer {
            status,
            etag: None,
            retry_after: None,
            body,
        }
    }

    /// The shape of a verdict, for the table.
    #[derive(Debug, PartialEq)]
    enum Is {
        Ack,
        AckWithBody,
        AlreadyApplied,
        Rebase,
        EditConflict,
        Deleted,
        Duplicate(Option<&'static str>),
        HoldLost(Option<&'static str>),
        Failed,
        RetryLater(Option<u64>),
        SignInAgain,
        FetchCurrent,
    }

    fn is(v: &Verdict) -> Is {
        match v {
            Verdict::Ack(None) => Is::Ack,
            Verdict::Ack(Some(_)) => Is::AckWithBody,
            Verdict::AlreadyApplied { .. } => Is::AlreadyApplied,
            Verdict::Rebase { .. } => Is::Rebase,
            Verdict::Conflict(ConflictVerdict::Edit { .. }) => Is::EditConflict,
            Verdict::Conflict(ConflictVerdict::Deleted) => Is::Deleted,
            Verdict::Conflict(ConflictVerdict::Duplicate { existing_id, .. }) => {
                Is::Duplicate(existing_id.map(|_| ID))
            }
            Verdict::HoldLost { escalation_id, .. } => Is::HoldLost(escalation_id.map(|_| ID)),
            Verdict::Failed { .. } => Is::Failed,
            Verdict::RetryLater { retry_after, .. } => {
                Is::RetryLater(retry_after.map(|d| d.as_secs()))
            }
            Verdict::SignInAgain { .. } => Is::SignInAgain,
            Verdict::FetchCurrent => Is::FetchCurrent,
        }
    }

    #[test]
    fn every_answer_of_the_protocol_has_its_verdict() {
        let base = book("Base", 2000);
        let mine = book("Mine", 2000);
        // Theirs changed the year only: merges cleanly with mine's title.
        let theirs_clean = book("Base", 2001);
        // Theirs changed the title too: a conflict.
        let theirs_conflict = book("Theirs", 2000);
        let conflict = |current: &Value| {
            problem(
                409,
                "edit-conflict",
                json!({"current": current, "current_etag": "\"v9\""}),
            )
        };
        let hold = json!({"id": ID, "patron_id": ID, "book_id": ID, "copy_id": null});
        let ok = |etag: bool, body: Body| Answer {
            etag: etag.then(|| "\"v2\"".to_owned()),
            ..answer(200, body)
        };
        use EditOp::{Create, Delete, Update};
        #[rustfmt::skip]
        let table: Vec<(EditOp, Answer, Is)> = vec![
            // op     answer                                                  verdict
            (Update, ok(true, Body::Record(mine.clone())),                     Is::AckWithBody),
            (Create, ok(false, Body::Record(mine.clone())),                    Is::Ack),
            (Delete, answer(204, Body::Empty),                                 Is::Ack),
            (Update, answer(401, problem(401, "unauthorized", json!({}))),     Is::SignInAgain),
            (Update, answer(429, problem(429, "rate-limited", json!({}))),     Is::RetryLater(None)),
            (Update, Answer { retry_after: Some(Duration::from_secs(7)),
                              ..answer(503, problem(503, "unavailable", json!({}))) },
                                                                               Is::RetryLater(Some(7))),
            (Delete, answer(404, problem(404, "not-found", json!({}))),        Is::Ack),
            (Update, answer(404, problem(404, "not-found", json!({}))),        Is::Deleted),
            (Create, answer(404, problem(404, "not-found", json!({}))),        Is::Failed),
            (Update, answer(409, conflict(&theirs_clean)),                     Is::Rebase),
            (Update, answer(409, conflict(&theirs_conflict)),                  Is::EditConflict),
            (Update, answer(409, conflict(&mine)),                             Is::AlreadyApplied),
            (Create, answer(409, conflict(&mine)),                             Is::AlreadyApplied),
            (Create, answer(409, conflict(&theirs_conflict)),                  Is::EditConflict),
            (Delete, answer(409, conflict(&theirs_clean)),                     Is::EditConflict),
            (Update, answer(412, problem(412, "precondition-failed", json!({}))),
                                                                               Is::FetchCurrent),
            (Create, answer(409, problem(409, "hold-unavailable",
                                         json!({"escalation_id": ID}))),       Is::HoldLost(Some(ID))),
            (Create, answer(409, problem(409, "hold-unavailable",
                                         json!({"patron_premium": false}))),   Is::HoldLost(None)),
            (Update, answer(409, problem(409, "hold-unavailable", json!({}))), Is::Failed),
            (Create, answer(409, problem(409, "duplicate",
                                         json!({"existing_id": ID}))),         Is::Duplicate(Some(ID))),
            (Update, answer(409, problem(409, "duplicate", json!({}))),        Is::Duplicate(None)),
            (Update, answer(400, problem(400, "validation", json!({}))),       Is::Failed),
            (Update, answer(403, problem(403, "forbidden", json!({}))),        Is::Failed),
            (Update, answer(409, problem(409, "in-use", json!({}))),           Is::Failed),
        ];
        for (op, answer, expected) in table {
            let row = format!("{op:?} {} {:?}", answer.status, answer.body);
            let edit = Operation {
                op,
                kind: RecordType::Book,
                body: match op {
                    Delete => None,
                    _ => Some(&mine),
                },
                base: match op {
                    Create => None,
                    _ => Some(&base),
                },
            };
            let edit = if matches!(expected, Is::HoldLost(_)) {
                Operation {
                    kind: RecordType::Hold,
                    body: Some(&hold),
                    ..edit
                }
            } else {
                edit
            };
            let verdict = judge(&edit, answer).unwrap_or_else(|e| panic!("{row}: {e}"));
            assert_eq!(is(&verdict), expected, "{row}");
        }
    }

    #[test]
    fn a_delete_the_server_refuses_as_in_use_is_failed_with_the_dependents_not_merged() {
        let base = book("Base", 2000);
        let edit = Operation {
            op: EditOp::Delete,
            kind: RecordType::Book,
            body: None,
            base: Some(&base),
        };
        let ids: Vec<String> = (1..=3)
            .map(|n| format!("01890000-0000-7000-8000-00000000000{n}"))
            .collect();
        // Even with a `current` beside it (as an edit conflict has), no merge is opened.
        let in_use = problem(
            409,
            "in-use",
            json!({"dependents": [{"type": "copy", "count": 3, "ids": ids}],
                   "current": base, "current_etag": "\"v2\""}),
        );
        let verdict = judge(&edit, answer(409, in_use)).expect("judged");
        let Verdict::Failed { problem: kept } = verdict else {
            panic!("refused, not {verdict:?}");
        };
        assert_eq!(
            kept["detail"],
            "This book still has 3 copies: delete them first."
        );
        assert_eq!(kept["type"], "/problems/in-use");
        assert_eq!(kept["dependents"][0]["count"], 3);
        // An answer without readable dependents keeps the server's words.
        let bare = judge(&edit, answer(409, problem(409, "in-use", json!({})))).expect("judged");
        assert!(
            matches!(bare, Verdict::Failed { problem: ref p } if p["detail"] == "in-use detail")
        );
    }

    #[test]
    fn a_clean_merge_is_pushed_again_on_theirs() {
        let (base, mine, theirs) = (book("Base", 2000), book("Mine", 2000), book("Base", 2001));
        let edit = Operation {
            op: EditOp::Update,
            kind: RecordType::Book,
            body: Some(&mine),
            base: Some(&base),
        };
        let verdict = judge_current(&edit, Some(("\"v3\"".into(), theirs.clone())));
        let Ok(Verdict::Rebase {
            etag,
            theirs: new_base,
            merged,
        }) = verdict
        else {
            panic!("{verdict:?}")
        };
        assert_eq!((etag.as_str(), &new_base), ("\"v3\"", &theirs));
        assert_eq!(
            (merged["title"].clone(), merged["year"].clone()),
            (json!("Mine"), json!(2001))
        );
    }

    /// An update of a book whose base is the record itself.
    fn unchanged_update(record: &Value) -> Operation<'_> {
        Operation {
            op: EditOp::Update,
            kind: RecordType::Book,
            body: Some(record),
            base: Some(record),
        }
    }

    #[test]
    fn a_record_gone_after_a_412_is_a_deleted_conflict() {
        let mine = book("Mine", 2000);
        let edit = unchanged_update(&mine);
        let verdict = judge_current(&edit, None).expect("judged");
        assert_eq!(verdict, Verdict::Conflict(ConflictVerdict::Deleted));
        let Verdict::Conflict(c) = verdict else {
            unreachable!()
        };
        assert_eq!(c.reason(), ConflictReason::Deleted);
        assert_eq!(c.detail().as_deref(), Some(DELETED_ON_SERVER));
    }

    #[test]
    fn a_duplicate_keeps_the_existing_record_beside_a_detail_without_ids() {
        let c = ConflictVerdict::Duplicate {
            existing_id: Some(ID.parse().expect("a uuid")),
            detail: "another book has this isbn".into(),
        };
        assert_eq!(c.detail().as_deref(), Some("another book has this isbn"));
        assert_eq!(c.existing_id(), Some(ID.parse().expect("a uuid")));
    }

    #[test]
    fn a_409_without_its_merge_data_is_an_error() {
        let mine = book("Mine", 2000);
        let edit = unchanged_update(&mine);
        let err = judge(&edit, answer(409, problem(409, "edit-conflict", json!({}))))
            .expect_err("no current state");
        assert!(matches!(err, VerdictError::NoMergeData(_)));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn a_401_without_a_problem_has_no_detail() {
        let edit = Operation {
            op: EditOp::Delete,
            kind: RecordType::Book,
            body: None,
            base: None,
        };
        let stand_in = Body::NotProblem(stand_in(401));
        assert_eq!(
            judge(&edit, answer(401, stand_in)).expect("judged"),
            Verdict::SignInAgain { detail: None }
        );
    }

    #[test]
    fn reasons_read_back_as_the_strings_they_are_stored_as() {
        for r in [
            ConflictReason::EditConflict,
            ConflictReason::Deleted,
            ConflictReason::Duplicate,
        ] {
            assert_eq!(ConflictReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).expect("serializes"), r.as_str());
        }
        for op in [EditOp::Create, EditOp::Update, EditOp::Delete] {
            assert_eq!(EditOp::parse(op.as_str()), Some(op));
        }
    }

    #[test]
    fn a_check_in_another_desk_made_first_is_done_and_one_it_overtook_is_refused_with_why() {
        let base = json!({"id": "l1", "copy_id": "c1", "patron_id": "p1", "status": "on_loan"});
        let mine = json!({"id": "l1", "copy_id": "c1", "patron_id": "p1", "status": "returned"});
        let edit = Operation {
            op: EditOp::Update,
            kind: RecordType::Loan,
            body: Some(&mine),
            base: Some(&base),
        };
        let theirs = |status: &str, returned_at: &str| {
            let current = json!({"id": "l1", "copy_id": "c1", "patron_id": "p1",
                                 "status": status, "returned_at": returned_at});
            problem(
                409,
                "edit-conflict",
                json!({"current": current, "current_etag": "\"v3\"",
                       "base": null, "base_etag": null}),
            )
        };
        let done = judge(
            &edit,
            answer(409, theirs("returned", "2026-12-01T10:00:00Z")),
        )
        .expect("judged");
        assert!(matches!(done, Verdict::AlreadyApplied { ref etag, .. } if etag == "\"v3\""));
        // A hold collected at another desk while this one cancelled it.
        let base = json!({"id": "h1", "status": "ready"});
        let cancel = json!({"id": "h1", "status": "cancelled"});
        let edit = Operation {
            op: EditOp::Update,
            kind: RecordType::Hold,
            body: Some(&cancel),
            base: Some(&base),
        };
        let collected = json!({"id": "h1", "status": "fulfilled"});
        let answer_409 = problem(
            409,
            "edit-conflict",
            json!({"current": collected, "current_etag": "\"v4\"", "base": null, "base_etag": null}),
        );
        let Verdict::Failed { problem } = judge(&edit, answer(409, answer_409)).expect("judged")
        else {
            panic!("refused");
        };
        assert_eq!(
            problem["detail"],
            "Another desk got there first: at the server this hold is now fulfilled."
        );
        assert_eq!(problem["current"]["status"], "fulfilled");
    }
}
