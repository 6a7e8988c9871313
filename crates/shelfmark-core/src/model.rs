//! The records the library keeps, as the wire contract (`PROTOCOL.md`, "Resources") names them.
//!
//! These structs are the JSON representation both sides exchange: treat them as a public API,
//! add fields (with `#[serde(default)]`), never rename or retype one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::isbn;
use crate::validate::{ValidationErrors, is_email, multi_line, single_line};

/// The kinds of record the change feed carries (`"type"` of a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum RecordType {
    Book,
    Copy,
    Patron,
    Hold,
    Escalation,
    PurchaseRequest,
    Loan,
}

impl RecordType {
    pub const ALL: [RecordType; 7] = [
        RecordType::Book,
        RecordType::Copy,
        RecordType::Patron,
        RecordType::Hold,
        RecordType::Escalation,
        RecordType::PurchaseRequest,
        RecordType::Loan,
    ];

    /// The wire name (`"book"`, `"purchase_request"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Book => "book",
            RecordType::Copy => "copy",
            RecordType::Patron => "patron",
            RecordType::Hold => "hold",
            RecordType::Escalation => "escalation",
            RecordType::PurchaseRequest => "purchase_request",
            RecordType::Loan => "loan",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The collection's path segment under `/v1/`.
    pub fn collection(self) -> &'static str {
        match self {
            RecordType::Book => "books",
            RecordType::Copy => "copies",
            RecordType::Patron => "patrons",
            RecordType::Hold => "holds",
            RecordType::Escalation => "escalations",
            RecordType::PurchaseRequest => "purchase-requests",
            RecordType::Loan => "loans",
        }
    }
}

/// A bibliographic record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Book {
    pub id: Uuid,
    pub isbn: String,
    pub title: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub publisher: String,
    #[serde(default)]
    pub year: Option<i32>,
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Multi-line text, merged line by line.
    #[serde(default)]
    pub summary: String,
    /// Multi-line staff notes, merged line by line.
    #[serde(default)]
    pub notes: String,
}

impl Book {
    /// Checks every rule and normalises the ISBN (hyphens removed) when it is valid.
    ///
    /// The ISBN may be empty: books printed before ISBNs (1970) and many small presses' have
    /// none, and a catalogue must still hold them. One that is given must be a valid ISBN-13.
    pub fn validate(&mut self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.isbn.trim().is_empty() {
            self.isbn = String::new();
        } else {
            match isbn::validate(&self.isbn) {
                Ok(digits) => self.isbn = digits,
                Err(e) => errors.push("isbn", e.to_string()),
            }
        }
        if self.title.trim().is_empty() {
            errors.push("title", "a book needs a title");
        }
        if self.authors.iter().any(|a| a.trim().is_empty()) {
            errors.push("authors", "an author's name cannot be empty");
        }
        if self.subjects.iter().any(|s| s.trim().is_empty()) {
            errors.push("subjects", "a subject cannot be empty");
        }
        if let Some(year) = self.year
            && !(0..=2100).contains(&year)
        {
            errors.push("year", "the year must be between 0 and 2100");
        }
        single_line(&mut errors, "title", &self.title);
        single_line(&mut errors, "publisher", &self.publisher);
        for author in &self.authors {
            single_line(&mut errors, "authors", author);
        }
        for subject in &self.subjects {
            single_line(&mut errors, "subjects", subject);
        }
        multi_line(&mut errors, "summary", &self.summary);
        multi_line(&mut errors, "notes", &self.notes);
        dedup_fields(errors).into_result()
    }
}

/// Where a copy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CopyStatus {
    Available,
    OnLoan,
    Held,
    Missing,
}

impl CopyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyStatus::Available => "available",
            CopyStatus::OnLoan => "on_loan",
            CopyStatus::Held => "held",
            CopyStatus::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<CopyStatus> {
        [
            CopyStatus::Available,
            CopyStatus::OnLoan,
            CopyStatus::Held,
            CopyStatus::Missing,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// An item on a shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Copy {
    pub id: Uuid,
    pub book_id: Uuid,
    pub barcode: String,
    pub branch: String,
    #[serde(default)]
    pub call_number: String,
    pub status: CopyStatus,
}

impl Copy {
    pub fn validate(&mut self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.barcode = self.barcode.trim().to_owned();
        if self.barcode.is_empty() {
            errors.push("barcode", "a copy needs a barcode");
        } else if self.barcode.chars().any(char::is_control) {
            errors.push("barcode", "a barcode cannot contain control characters");
        }
        if self.branch.trim().is_empty() {
            errors.push("branch", "a copy belongs to a branch");
        }
        single_line(&mut errors, "branch", &self.branch);
        single_line(&mut errors, "call_number", &self.call_number);
        errors.into_result()
    }
}

/// A library member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Patron {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub premium: bool,
    pub branch: String,
    /// The library card's barcode, as a scanner types it: unique among patrons (empty for a
    /// patron registered before cards were recorded).
    #[serde(default)]
    pub card: String,
    /// Staff notes.
    #[serde(default)]
    pub notes: String,
}

impl Patron {
    pub fn validate(&mut self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.card = self.card.trim().to_owned();
        if self.card.chars().any(char::is_whitespace) {
            errors.push("card", "a card number has no spaces");
        }
        if self.name.trim().is_empty() {
            errors.push("name", "a patron needs a name");
        }
        self.email = self.email.trim().to_owned();
        if !is_email(&self.email) {
            errors.push("email", "this is not an email address");
        }
        if self.branch.trim().is_empty() {
            errors.push("branch", "a patron belongs to a branch");
        }
        single_line(&mut errors, "name", &self.name);
        single_line(&mut errors, "branch", &self.branch);
        single_line(&mut errors, "card", &self.card);
        multi_line(&mut errors, "notes", &self.notes);
        errors.into_result()
    }
}

/// Where a hold is in its life: `active` (a copy is allocated and being fetched), `ready` (on
/// the hold shelf until `pickup_by`), then `fulfilled` (collected: a loan) or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum HoldStatus {
    Active,
    Ready,
    Cancelled,
    Fulfilled,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Ready => "ready",
            HoldStatus::Cancelled => "cancelled",
            HoldStatus::Fulfilled => "fulfilled",
        }
    }

    /// Whether the hold still has its copy set aside (active or ready).
    pub fn is_open(self) -> bool {
        matches!(self, HoldStatus::Active | HoldStatus::Ready)
    }

    /// Why a hold may not step from `self` to `to`, or None when it may: active to ready,
    /// active or ready to fulfilled or cancelled, or staying as it is. The server judges every
    /// `PUT` by it and the desk every step before it queues one.
    pub fn step_refused(self, to: HoldStatus) -> Option<&'static str> {
        use HoldStatus::{Active, Cancelled, Fulfilled, Ready};
        match (self, to) {
            (a, b) if a == b => None,
            (Active, Ready | Cancelled | Fulfilled) | (Ready, Cancelled | Fulfilled) => None,
            (Ready, Active) => Some("a hold on the shelf cannot go back to being fetched"),
            (_, Active | Ready) => {
                Some("a cancelled or fulfilled hold cannot become active again: place a new hold")
            }
            _ => Some("a hold that is over cannot change its status"),
        }
    }
}

/// Why a hold was cancelled (`cancel_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CancelReason {
    /// The patron no longer wants it.
    Patron,
    /// Staff cancelled it.
    Staff,
    /// A manager gave the copy to a premium patron.
    Reassigned,
    /// Not collected by its pickup date.
    Expired,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Patron => "patron",
            CancelReason::Staff => "staff",
            CancelReason::Reassigned => "reassigned",
            CancelReason::Expired => "expired",
        }
    }

    /// Whether a desk may give this reason: `expired` and `reassigned` are the server's.
    pub fn is_desks(self) -> bool {
        matches!(self, CancelReason::Patron | CancelReason::Staff)
    }

    pub fn parse(s: &str) -> Option<CancelReason> {
        [
            CancelReason::Patron,
            CancelReason::Staff,
            CancelReason::Reassigned,
            CancelReason::Expired,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A reservation of a copy of a book for a patron; the server picks the copy and sets the
/// times of each step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Hold {
    pub id: Uuid,
    pub patron_id: Uuid,
    pub book_id: Uuid,
    #[serde(default)]
    pub copy_id: Option<Uuid>,
    pub status: HoldStatus,
    /// `patron`, `staff`, `reassigned` or `expired` (a string on the wire: v1 servers wrote
    /// other words, which a reader keeps as they are).
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// The branch whose hold shelf the copy waits on; empty: the patron's branch.
    #[serde(default)]
    pub pickup_branch: String,
    #[serde(default)]
    pub placed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ready_at: Option<DateTime<Utc>>,
    /// The last day the copy waits on the shelf: later, the server cancels the hold.
    #[serde(default)]
    pub pickup_by: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fulfilled_at: Option<DateTime<Utc>>,
    /// The loan the hold became when collected.
    #[serde(default)]
    pub loan_id: Option<Uuid>,
}

impl Hold {
    /// A new hold request: the server allocates the copy and sets the times.
    pub fn request(id: Uuid, patron_id: Uuid, book_id: Uuid) -> Hold {
        Hold {
            id,
            patron_id,
            book_id,
            copy_id: None,
            status: HoldStatus::Active,
            cancel_reason: None,
            pickup_branch: String::new(),
            placed_at: None,
            ready_at: None,
            pickup_by: None,
            fulfilled_at: None,
            loan_id: None,
        }
    }

    /// The reason a hold is cancelled with, when one is given: one the protocol names.
    pub fn validate(&mut self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.pickup_branch = self.pickup_branch.trim().to_owned();
        if let Some(reason) = &self.cancel_reason
            && self.status == HoldStatus::Cancelled
            && CancelReason::parse(reason).is_none()
        {
            errors.push("cancel_reason", "one of patron, staff, reassigned, expired");
        }
        single_line(&mut errors, "pickup_branch", &self.pickup_branch);
        errors.into_result()
    }
}

/// Whether a loan is out or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum LoanStatus {
    #[default]
    OnLoan,
    Returned,
}

impl LoanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanStatus::OnLoan => "on_loan",
            LoanStatus::Returned => "returned",
        }
    }
}

/// A copy checked out to a patron; the server sets the times (`due_at` from its loan period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Loan {
    pub id: Uuid,
    pub copy_id: Uuid,
    pub patron_id: Uuid,
    /// The hold this loan fulfilled, if any.
    #[serde(default)]
    pub hold_id: Option<Uuid>,
    #[serde(default)]
    pub loaned_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub returned_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: LoanStatus,
}

impl Loan {
    /// A check-out of `copy_id` to `patron_id`, as the desk sends it.
    pub fn check_out(id: Uuid, copy_id: Uuid, patron_id: Uuid) -> Loan {
        Loan {
            id,
            copy_id,
            patron_id,
            hold_id: None,
            loaned_at: None,
            due_at: None,
            returned_at: None,
            status: LoanStatus::OnLoan,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum EscalationStatus {
    Open,
    Reassigned,
    PurchaseFlagged,
    Resolved,
}

/// Opened when a premium patron loses a hold; settled by the manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Escalation {
    pub id: Uuid,
    pub patron_id: Uuid,
    pub book_id: Uuid,
    pub hold_request_id: Uuid,
    pub status: EscalationStatus,
    #[serde(default)]
    pub resolution_note: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum PurchaseStatus {
    Requested,
    Ordered,
    Received,
    Cancelled,
}

/// A copy the manager asked to buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PurchaseRequest {
    pub id: Uuid,
    pub book_id: Uuid,
    pub isbn: String,
    #[serde(default)]
    pub escalation_id: Option<Uuid>,
    pub requested_by: String,
    pub quantity: u32,
    #[serde(default)]
    pub note: String,
    pub status: PurchaseStatus,
}

/// One error per field: a list with two bad entries (two authors) says so once.
fn dedup_fields(errors: ValidationErrors) -> ValidationErrors {
    let mut seen = ValidationErrors::default();
    for e in errors.0 {
        if !seen
            .0
            .iter()
            .any(|s| s.field == e.field && s.message == e.message)
        {
            seen.0.push(e);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Book {
        Book {
            id: Uuid::nil(),
            isbn: "978-0-306-40615-7".into(),
            title: "Signals".into(),
            authors: vec!["A. Writer".into()],
            publisher: String::new(),
            year: Some(1999),
            subjects: vec![],
            summary: String::new(),
            notes: String::new(),
        }
    }

    #[test]
    fn a_valid_book_gets_its_isbn_normalised() {
        let mut b = book();
        assert_eq!(b.validate(), Ok(()));
        assert_eq!(b.isbn, "9780306406157");
    }

    #[test]
    fn a_book_without_an_isbn_is_valid_but_a_given_isbn_must_be_right() {
        for (isbn, kept) in [
            ("", Some("")),
            ("   ", Some("")),
            ("978-0-306-40615-7", Some("9780306406157")),
            ("9780306406158", None),
            ("0306406152", None),
            ("-", None),
        ] {
            let mut b = book();
            b.isbn = isbn.into();
            match kept {
                Some(kept) => {
                    assert_eq!(b.validate(), Ok(()), "{isbn:?}");
                    assert_eq!(b.isbn, kept);
                }
                None => {
                    let errors = b.validate().expect_err(isbn);
                    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
                    assert_eq!(fields, ["isbn"], "{isbn:?}");
                }
            }
        }
    }

    #[test]
    fn an_invalid_book_reports_every_broken_field() {
        let mut b = book();
        b.title = "  ".into();
        b.isbn = "9780306406158".into();
        let errors = b.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["isbn", "title"]);
    }

    #[test]
    fn text_fields_refuse_control_characters_and_only_notes_and_summaries_keep_line_breaks() {
        let mut b = book();
        b.title = "Signals\r\nX-Forged: yes".into();
        b.authors = vec!["A. Writer".into(), "B.\u{1b}[31m".into(), "C\u{0}".into()];
        b.summary = "Line one.\nLine two.\tTabbed.".into();
        b.notes = "ring the bell\u{7}".into();
        let errors = b.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "authors", "notes"]);

        let mut p = patron();
        p.name = "Ada\nLovelace".into();
        p.notes = "Prefers\r\nlarge print".into();
        let errors = p.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name"]);

        let mut c = Copy {
            id: Uuid::nil(),
            book_id: Uuid::nil(),
            barcode: "3100".into(),
            branch: "Central\u{85}".into(),
            call_number: "635\tAUT".into(),
            status: CopyStatus::Available,
        };
        let errors = c.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["branch", "call_number"]);
    }

    fn patron() -> Patron {
        Patron {
            id: Uuid::nil(),
            name: "Ada Lovelace".into(),
            email: "ada@example.org".into(),
            premium: false,
            branch: "Central".into(),
            card: String::new(),
            notes: String::new(),
        }
    }

    #[test]
    fn a_patrons_email_is_an_address_internationalised_or_not_and_is_kept_trimmed() {
        for (email, ok) in [
            (" ada@example.org ", true),
            ("zoë@exämple.de", true),
            ("佐藤@例え.jp", true),
            ("ada@example", false),
            ("ada at example.org", false),
            ("ada@example.org\nBcc: eve@example.org", false),
        ] {
            let mut p = patron();
            p.email = email.into();
            assert_eq!(p.validate().is_ok(), ok, "{email:?}");
            if ok {
                assert_eq!(p.email, email.trim());
            }
        }
    }

    #[test]
    fn record_types_round_trip_their_wire_names() {
        for t in RecordType::ALL {
            assert_eq!(RecordType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).expect("serialises");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn a_book_reads_from_the_wire_with_optional_fields_missing() {
        let b: Book = serde_json::from_str(
            r#"{"id":"00000000-0000-0000-0000-000000000000","isbn":"9780306406157","title":"T"}"#,
        )
        .expect("parses");
        assert!(b.authors.is_empty() && b.year.is_none());
    }

    #[test]
    fn a_hold_only_steps_forward_and_a_desk_gives_only_its_own_reasons() {
        use HoldStatus::{Active, Cancelled, Fulfilled, Ready};
        let all = [Active, Ready, Fulfilled, Cancelled];
        let allowed: Vec<_> = all
            .iter()
            .flat_map(|from| all.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from != to && from.step_refused(*to).is_none())
            .collect();
        assert_eq!(
            allowed,
            [
                (Active, Ready),
                (Active, Fulfilled),
                (Active, Cancelled),
                (Ready, Fulfilled),
                (Ready, Cancelled)
            ]
        );
        assert!(all.iter().all(|s| s.step_refused(*s).is_none()));
        let desks: Vec<_> = ["patron", "staff", "reassigned", "expired"]
            .iter()
            .filter_map(|r| CancelReason::parse(r))
            .filter(|r| r.is_desks())
            .collect();
        assert_eq!(desks, [CancelReason::Patron, CancelReason::Staff]);
    }
}
