//! Envelopes of the wire contract (`PROTOCOL.md`): sessions, pages, the change feed, problems.
//! Shared by the server and the client so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Book, CopyStatus, Escalation, Hold, Patron, PurchaseRequest, RecordType};
use crate::validate::FieldError;

/// `POST /v1/sessions` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Role {
    Librarian,
    Manager,
}

impl Role {
    /// Whether this role may take a patron's premium status from `was` to `now`: only a
    /// manager sets or changes it (a premium patron's lost hold reaches the manager, a promise
    /// only a manager gives). The server refuses it with `403`; the desk says so at once.
    pub fn may_change_premium(self, was: bool, now: bool) -> bool {
        was == now || self == Role::Manager
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Librarian => "librarian",
            Role::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "librarian" => Some(Role::Librarian),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// A staff user as the server describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UserInfo {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

/// `POST /v1/sessions` answer (201).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionResponse {
    pub token: String,
    pub user: UserInfo,
}

/// A page of a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One entry of the change feed: the latest state of one record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: RecordType,
    pub id: Uuid,
    pub etag: String,
    #[serde(default)]
    pub deleted: bool,
    /// The record's representation; absent for deletions. Kept as the JSON text it came in
    /// (checked to be well-formed, not parsed into a tree): the server sends what it stored and
    /// the cache stores what it received, with no parse and print in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<serde_json::value::RawValue>>,
}

/// `GET /v1/changes` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeFeed {
    pub changes: Vec<Change>,
    pub last_seq: i64,
    pub more: bool,
}

/// An RFC 9457 problem as this protocol uses it; the extensions stay as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// The problem's name (`edit-conflict` for `/problems/edit-conflict`).
    pub fn name(&self) -> &str {
        self.kind.strip_prefix("/problems/").unwrap_or(&self.kind)
    }
}

/// The extensions of a `409 /problems/edit-conflict` answer: everything a client needs to merge
/// without another round trip. `base` is the revision the request's `If-Match` named, from the
/// server's history; `null` when the history no longer has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditConflict {
    pub current: serde_json::Value,
    pub current_etag: String,
    #[serde(default)]
    pub base: Option<serde_json::Value>,
    #[serde(default)]
    pub base_etag: Option<String>,
}

/// The extension of a `409 /problems/duplicate` answer: the record that already holds the
/// unique value (ISBN of a book, barcode of a copy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub existing_id: Uuid,
}

/// The extension of a `409 /problems/in-use` answer: the records that still depend on the one
/// a `DELETE` named, for each kind how many and (up to [`MAX_DEPENDENT_IDS`]) which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUse {
    pub dependents: Vec<Dependents>,
}

/// How many ids of each kind of dependent an `in-use` answer lists at most.
pub const MAX_DEPENDENT_IDS: usize = 20;

/// The records of one kind that depend on another: a book's copies, a copy's open holds...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependents {
    #[serde(rename = "type")]
    pub kind: RecordType,
    pub count: u64,
    /// The first of them, by id (at most [`MAX_DEPENDENT_IDS`]).
    pub ids: Vec<Uuid>,
}

impl InUse {
    /// The plain reason a record of kind `of` cannot be deleted, naming what still depends on
    /// it and what to do first: "This book still has 3 copies: delete them first." Both the
    /// server's `detail` and the desk's refused edit say it.
    pub fn reason(&self, of: RecordType) -> String {
        let present: Vec<&Dependents> = self.dependents.iter().filter(|d| d.count > 0).collect();
        if present.is_empty() {
            return format!(
                "Other records still depend on this {}: end them first.",
                of.as_str().replace('_', " ")
            );
        }
        let has: Vec<String> = present
            .iter()
            .map(|d| format!("{} {}", d.count, dependent_noun(d.kind, d.count)))
            .collect();
        let alone = present.len() == 1;
        let to_do: Vec<String> = present
            .iter()
            .map(|d| dependent_action(d.kind, d.count, alone))
            .collect();
        format!(
            "This {} still has {}: {} first.",
            of.as_str().replace('_', " "),
            and_list(&has),
            and_list(&to_do)
        )
    }
}

/// What a dependent is called in [`InUse::reason`]: `copies`, `open holds`...
fn dependent_noun(kind: RecordType, count: u64) -> String {
    let (one, many) = match kind {
        RecordType::Copy => ("copy", "copies"),
        RecordType::Hold => ("open hold", "open holds"),
        RecordType::Loan => ("open loan", "open loans"),
        RecordType::Escalation => ("open escalation", "open escalations"),
        other => return format!("{}(s)", other.as_str().replace('_', " ")),
    };
    if count == 1 { one } else { many }.to_owned()
}

/// What ends a dependent: "delete them", "cancel the hold", "check the loans in".
fn dependent_action(kind: RecordType, count: u64, alone: bool) -> String {
    let noun = match kind {
        RecordType::Copy if count != 1 => "copies".to_owned(),
        other if count != 1 => format!("{}s", other.as_str().replace('_', " ")),
        other => other.as_str().replace('_', " "),
    };
    let it = match (alone, count) {
        (true, 1) => "it".to_owned(),
        (true, _) => "them".to_owned(),
        (false, _) => format!("the {noun}"),
    };
    match kind {
        RecordType::Copy => format!("delete {it}"),
        RecordType::Hold => format!("cancel {it}"),
        RecordType::Loan => format!("check {it} in"),
        RecordType::Escalation => format!("resolve {it}"),
        _ => format!("end {it}"),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The copy an active hold took, as the detail shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HeldCopy {
    pub id: Uuid,
    pub barcode: String,
    pub branch: String,
    pub status: CopyStatus,
}

/// One active hold on a copy of the escalated book, with its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ActiveHold {
    pub hold: Hold,
    #[serde(default)]
    pub hold_etag: Option<String>,
    #[serde(default)]
    pub holder: Option<Patron>,
    #[serde(default)]
    pub premium: bool,
    #[serde(default)]
    pub copy: Option<HeldCopy>,
    /// The copy's branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// RFC 3339 time the hold was placed (known to the server only: `None` from the cache).
    #[serde(default)]
    pub since: Option<String>,
}

/// Everything the manager decides from: the escalation, the premium patron, the book, every
/// active hold on its copies, and the purchase requests for it.
// `GET /v1/escalations/{id}` sends it (`EscalationDetail::server_body`); the desktop reads
// that answer, or builds it from its cache when the server cannot be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EscalationDetail {
    #[serde(flatten)]
    pub escalation: Escalation,
    #[serde(default)]
    pub patron: Option<Patron>,
    #[serde(default)]
    pub book: Option<Book>,
    #[serde(default)]
    pub active_holds: Vec<ActiveHold>,
    #[serde(default)]
    pub purchase_requests: Vec<PurchaseRequest>,
    /// The tag an action's `If-Match` names (the detail's ETag, or the cached `"v<version>"`).
    #[serde(default)]
    pub etag: Option<String>,
    /// Built from the cache because the server could not be asked.
    #[serde(default)]
    pub offline: bool,
}

impl EscalationDetail {
    /// The body of `GET /v1/escalations/{id}`: every member in name order, without the two
    /// the desktop adds itself (`etag`, which the server sends as the `ETag` header, and
    /// `offline`).
    pub fn server_body(&self) -> serde_json::Result<Vec<u8>> {
        // Through a `Value`, whose objects keep their members sorted by name.
        let mut value = serde_json::to_value(self)?;
        if let serde_json::Value::Object(members) = &mut value {
            members.remove("etag");
            members.remove("offline");
        }
        serde_json::to_vec(&value)
    }
}

/// How long to wait, as a person says it: "40 seconds", "1 minute", "11 minutes" (minutes
/// rounded up, never sooner than asked). The server's throttled answer and the desk's message
/// both word a `Retry-After` with it.
pub fn wait_in_words(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} second{}", if seconds == 1 { "" } else { "s" }),
        _ => {
            let minutes = seconds.div_ceil(60);
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wait_is_worded_in_seconds_under_a_minute_and_in_whole_minutes_rounded_up_above() {
        assert_eq!(super::wait_in_words(1), "1 second");
        assert_eq!(super::wait_in_words(40), "40 seconds");
        assert_eq!(super::wait_in_words(60), "1 minute");
        assert_eq!(super::wait_in_words(601), "11 minutes");
    }

    #[test]
    fn only_a_manager_sets_or_takes_away_premium_and_anyone_may_leave_it_as_it_is() {
        for (role, was, now, allowed) in [
            (Role::Librarian, false, false, true),
            (Role::Librarian, true, true, true),
            (Role::Librarian, false, true, false),
            (Role::Librarian, true, false, false),
            (Role::Manager, false, true, true),
            (Role::Manager, true, false, true),
        ] {
            assert_eq!(
                role.may_change_premium(was, now),
                allowed,
                "{role:?} {was} -> {now}"
            );
        }
    }

    use super::*;

    #[test]
    fn the_servers_escalation_body_sorts_its_members_and_leaves_the_desktops_out() {
        let id = |n: u128| Uuid::from_u128(n);
        let detail = EscalationDetail {
            escalation: Escalation {
                id: id(10),
                patron_id: id(3),
                book_id: id(1),
                hold_request_id: id(21),
                status: crate::EscalationStatus::Open,
                resolution_note: None,
                created_at: "2026-11-20T10:00:00Z".parse().expect("a time"),
            },
            patron: None,
            book: None,
            active_holds: vec![ActiveHold {
                hold: Hold {
                    copy_id: Some(id(4)),
                    ..Hold::request(id(6), id(2), id(1))
                },
                hold_etag: Some("\"v3\"".into()),
                holder: None,
                premium: false,
                copy: Some(HeldCopy {
                    id: id(4),
                    barcode: "B1".into(),
                    branch: "North".into(),
                    status: CopyStatus::Held,
                }),
                branch: Some("North".into()),
                since: None,
            }],
            purchase_requests: vec![],
            etag: Some("\"v1.abc\"".into()),
            offline: true,
        };
        let body = String::from_utf8(detail.server_body().expect("serialises")).expect("utf-8");
        let (u1, u2, u3, u4, u6) = (id(1), id(2), id(3), id(4), id(6));
        let (u10, u21) = (id(10), id(21));
        assert_eq!(
            body,
            format!(
                "{{\"active_holds\":[{{\"branch\":\"North\",\"copy\":{{\"barcode\":\"B1\",\
                 \"branch\":\"North\",\"id\":\"{u4}\",\"status\":\"held\"}},\"hold\":{{\
                 \"book_id\":\"{u1}\",\"cancel_reason\":null,\"copy_id\":\"{u4}\",\
                 \"fulfilled_at\":null,\"id\":\"{u6}\",\"loan_id\":null,\"patron_id\":\"{u2}\",\
                 \"pickup_branch\":\"\",\"pickup_by\":null,\"placed_at\":null,\"ready_at\":null,\
                 \"status\":\"active\"}},\"hold_etag\":\"\\\"v3\\\"\",\
                 \"holder\":null,\"premium\":false,\"since\":null}}],\"book\":null,\
                 \"book_id\":\"{u1}\",\"created_at\":\"2026-11-20T10:00:00Z\",\
                 \"hold_request_id\":\"{u21}\",\"id\":\"{u10}\",\"patron\":null,\
                 \"patron_id\":\"{u3}\",\"purchase_requests\":[],\"resolution_note\":null,\
                 \"status\":\"open\"}}"
            )
        );
        let read: EscalationDetail = serde_json::from_str(&body).expect("parses back");
        assert_eq!(read.etag, None);
        assert!(!read.offline);
        assert_eq!(read.active_holds, detail.active_holds);
    }
}

/// One entry of a record's history (`GET /v1/{collection}/{id}/revisions`, newest first):
/// every write is one, with who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Revision {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: i64,
    pub etag: String,
    pub deleted: bool,
    pub data: Option<serde_json::Value>,
    /// The user whose session made the write.
    pub by: RevisionAuthor,
    /// RFC 3339.
    pub at: String,
}

/// Who made a revision: the user's id and name. The id is null when the name is no user's
/// (the demo data is written by `demo`, which nobody signs in as).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "AuthorOnTheWire")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RevisionAuthor {
    pub id: Option<Uuid>,
    pub name: String,
}

/// How a revision's author arrives: `{"id", "name"}`, or from a v1.0 server the bare name.
#[derive(Deserialize)]
#[serde(untagged)]
enum AuthorOnTheWire {
    Named { id: Option<Uuid>, name: String },
    NameOnly(String),
}

impl From<AuthorOnTheWire> for RevisionAuthor {
    fn from(author: AuthorOnTheWire) -> Self {
        match author {
            AuthorOnTheWire::Named { id, name } => RevisionAuthor { id, name },
            AuthorOnTheWire::NameOnly(name) => RevisionAuthor { id: None, name },
        }
    }
}

#[cfg(test)]
mod in_use_tests {
    use super::*;

    fn dependents(kind: RecordType, count: u64) -> Dependents {
        Dependents {
            kind,
            count,
            ids: (0..count.min(20) as u128).map(Uuid::from_u128).collect(),
        }
    }

    #[test]
    fn the_reason_names_what_still_depends_on_the_record_and_what_to_do_first() {
        let cases = [
            (
                RecordType::Book,
                vec![dependents(RecordType::Copy, 3)],
                "This book still has 3 copies: delete them first.",
            ),
            (
                RecordType::Book,
                vec![dependents(RecordType::Copy, 1)],
                "This book still has 1 copy: delete it first.",
            ),
            (
                RecordType::Copy,
                vec![dependents(RecordType::Loan, 1)],
                "This copy still has 1 open loan: check it in first.",
            ),
            (
                RecordType::Copy,
                vec![
                    dependents(RecordType::Hold, 1),
                    dependents(RecordType::Loan, 0),
                ],
                "This copy still has 1 open hold: cancel it first.",
            ),
            (
                RecordType::Patron,
                vec![
                    dependents(RecordType::Hold, 2),
                    dependents(RecordType::Loan, 1),
                    dependents(RecordType::Escalation, 1),
                ],
                "This patron still has 2 open holds, 1 open loan and 1 open escalation: \
                 cancel the holds, check the loan in and resolve the escalation first.",
            ),
        ];
        for (of, dependents, expected) in cases {
            assert_eq!(InUse { dependents }.reason(of), expected);
        }
    }

    #[test]
    fn an_in_use_answer_reads_as_its_dependents_by_type() {
        let id = Uuid::from_u128(9);
        let json = serde_json::json!({"dependents": [{"type": "copy", "count": 21, "ids": [id]}]});
        let read: InUse = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(read.dependents[0].kind, RecordType::Copy);
        assert_eq!(read.dependents[0].count, 21);
        assert_eq!(serde_json::to_value(&read).expect("serialises"), json);
    }
}

#[cfg(test)]
mod revision_tests {
    use super::*;

    #[test]
    fn an_author_is_read_as_an_object_or_as_a_v1_0_server_s_bare_name() {
        let id = Uuid::from_u128(7);
        let cases = [
            (
                format!(r#"{{"id": "{id}", "name": "ana"}}"#),
                RevisionAuthor {
                    id: Some(id),
                    name: "ana".into(),
                },
            ),
            (
                r#"{"id": null, "name": "demo"}"#.to_owned(),
                RevisionAuthor {
                    id: None,
                    name: "demo".into(),
                },
            ),
            (
                r#""ana""#.to_owned(),
                RevisionAuthor {
                    id: None,
                    name: "ana".into(),
                },
            ),
        ];
        for (json, expected) in cases {
            let read: RevisionAuthor = serde_json::from_str(&json).expect("an author");
            assert_eq!(read, expected, "{json}");
        }
        let written = serde_json::to_value(RevisionAuthor {
            id: Some(id),
            name: "ana".into(),
        })
        .expect("serialises");
        assert_eq!(written, serde_json::json!({"id": id, "name": "ana"}));
    }
}

/// One decision on who gets a copy of a book, as the server made it
/// (`GET /v1/books/{id}/contests`, in the order decided): the answer to "why did this patron
/// get the copy and not that one".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ContestEntry {
    /// The hold placed (for a reassignment: the premium patron's new hold).
    pub hold_id: Uuid,
    pub patron_id: Uuid,
    pub patron_premium: bool,
    /// RFC 3339.
    pub at: String,
    #[serde(flatten)]
    pub outcome: ContestOutcome,
}

/// What a decision gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ContestOutcome {
    /// The hold got this copy.
    Won { copy_id: Uuid },
    /// Every copy was taken; for a premium patron, the escalation opened.
    Lost { escalation_id: Option<Uuid> },
    /// A manager moved a copy from another patron's hold to this premium patron.
    Reassigned {
        copy_id: Uuid,
        from_hold_id: Uuid,
        to_hold_id: Uuid,
        /// The manager's name.
        by: String,
        note: String,
    },
}
