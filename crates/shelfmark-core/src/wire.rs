//! Envelopes of the wire contract (`PROTOCOL.md`): sessions, pages, the change feed, problems.
//! Shared by the server and the client so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::RecordType;
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
