//! The kinds of record the server keeps and their rules: what each one is called in the
//! database, who may write it and read its history, how it is validated, which records it
//! refers to, and the columns extracted from it so the database can index, filter and search
//! it.
//!
//! Both the HTTP layer (which validates what a client sends) and the store (whose business
//! operations write records of several kinds) apply these rules, so they live here, below
//! both: this module imports neither.

use serde::Serialize;
use serde::de::DeserializeOwned;
use shelfmark_core::wire::Role;
use shelfmark_core::{
    Book, Copy, Escalation, EscalationStatus, Hold, Loan, Patron, PurchaseRequest, PurchaseStatus,
    RecordType, ValidationErrors,
};
use uuid::Uuid;

/// The columns extracted from a record so the database can index, filter and search it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    /// Unique per kind among live records (ISBN of a book, barcode of a copy).
    pub unique_key: Option<String>,
    /// The main reference (a copy's book, a hold's patron).
    pub ref_id: Option<Uuid>,
    /// The second reference (a hold's book).
    pub ref2_id: Option<Uuid>,
    /// The third reference (a hold's copy: unique among active holds).
    pub ref3_id: Option<Uuid>,
    pub status: Option<String>,
    /// Words for full-text search.
    pub search: String,
}

/// What distinguishes one kind of record from another on the wire and in the database.
pub trait Kind: Send + Sync + 'static {
    const TYPE: RecordType;
    type Record: Serialize + DeserializeOwned + Send + Sync;
    /// The role that may create, change and delete these records.
    const WRITE_ROLE: Role = Role::Librarian;
    /// The role that may read these records' history (every revision, who made it): a
    /// librarian, unless the kind says otherwise (a patron's history is personal data, the
    /// escalations' and purchases' a manager's business).
    const HISTORY_ROLE: Role = Role::Librarian;

    fn validate(record: &mut Self::Record) -> Result<(), ValidationErrors>;
    fn index(record: &Self::Record) -> Index;
    /// Records this one refers to, which must exist: `(field, kind, id)`.
    fn references(_record: &Self::Record) -> Vec<(&'static str, RecordType, Uuid)> {
        Vec::new()
    }
    /// What to call the unique value in a `duplicate` answer.
    fn unique_name() -> &'static str {
        "value"
    }
    /// Whether [`Kind::may_write`] must see the stored record before a write.
    const GUARDS_CHANGES: bool = false;
    /// A rule on who may make a change, beyond [`Kind::WRITE_ROLE`] (`current`: the stored
    /// record, None for a create). The error says why, for a `403`.
    fn may_write(
        _role: Role,
        _current: Option<&Self::Record>,
        _new: &Self::Record,
    ) -> Result<(), &'static str> {
        Ok(())
    }
}

pub struct Books;
pub struct Copies;
pub struct Patrons;
pub struct Holds;
pub struct Escalations;
pub struct PurchaseRequests;
pub struct Loans;

/// How long things last at the desk: a ready hold waits on the shelf for `pickup_window`, a
/// loan is due `loan_period` after it is made. The server's settings; the store's operations
/// set the times from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circulation {
    pub pickup_window: chrono::Duration,
    pub loan_period: chrono::Duration,
}

impl Default for Circulation {
    /// The protocol's defaults: 7 days on the hold shelf, 21 days on loan.
    fn default() -> Circulation {
        Circulation {
            pickup_window: chrono::Duration::days(7),
            loan_period: chrono::Duration::days(21),
        }
    }
}

impl Kind for Holds {
    const TYPE: RecordType = RecordType::Hold;
    type Record = Hold;

    fn validate(record: &mut Hold) -> Result<(), ValidationErrors> {
        record.validate()
    }

    fn index(h: &Hold) -> Index {
        Index {
            ref_id: Some(h.patron_id),
            ref2_id: Some(h.book_id),
            // The copy an open hold sets aside: one open hold per copy, by the database.
            ref3_id: h.copy_id,
            status: Some(h.status.as_str().to_owned()),
            ..Index::default()
        }
    }
}

impl Kind for Loans {
    const TYPE: RecordType = RecordType::Loan;
    type Record = Loan;

    fn validate(_record: &mut Loan) -> Result<(), ValidationErrors> {
        Ok(())
    }

    fn index(l: &Loan) -> Index {
        Index {
            ref_id: Some(l.patron_id),
            ref2_id: Some(l.copy_id),
            // The copy an open loan has out: one open loan per copy, by the database.
            ref3_id: Some(l.copy_id),
            status: Some(l.status.as_str().to_owned()),
            ..Index::default()
        }
    }

    fn references(l: &Loan) -> Vec<(&'static str, RecordType, Uuid)> {
        vec![
            ("copy_id", RecordType::Copy, l.copy_id),
            ("patron_id", RecordType::Patron, l.patron_id),
        ]
    }
}

impl Kind for Escalations {
    const TYPE: RecordType = RecordType::Escalation;
    type Record = Escalation;
    const HISTORY_ROLE: Role = Role::Manager;

    fn validate(_record: &mut Escalation) -> Result<(), ValidationErrors> {
        Ok(())
    }

    fn index(e: &Escalation) -> Index {
        Index {
            // One escalation per lost hold request, enforced by the database.
            unique_key: Some(e.hold_request_id.to_string()),
            ref_id: Some(e.patron_id),
            ref2_id: Some(e.book_id),
            status: Some(
                match e.status {
                    EscalationStatus::Open => "open",
                    EscalationStatus::Reassigned => "reassigned",
                    EscalationStatus::PurchaseFlagged => "purchase_flagged",
                    EscalationStatus::Resolved => "resolved",
                }
                .to_owned(),
            ),
            search: e.resolution_note.clone().unwrap_or_default(),
            ..Index::default()
        }
    }
}

impl Kind for PurchaseRequests {
    const TYPE: RecordType = RecordType::PurchaseRequest;
    type Record = PurchaseRequest;
    const WRITE_ROLE: Role = Role::Manager;
    const HISTORY_ROLE: Role = Role::Manager;

    fn validate(record: &mut PurchaseRequest) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if record.quantity == 0 {
            errors.push("quantity", "buy at least one copy");
        }
        if record.requested_by.trim().is_empty() {
            errors.push("requested_by", "say who asked for the purchase");
        }
        shelfmark_core::validate::single_line(&mut errors, "isbn", &record.isbn);
        shelfmark_core::validate::single_line(&mut errors, "requested_by", &record.requested_by);
        shelfmark_core::validate::multi_line(&mut errors, "note", &record.note);
        errors.into_result()
    }

    fn index(p: &PurchaseRequest) -> Index {
        Index {
            ref_id: Some(p.book_id),
            ref2_id: p.escalation_id,
            status: Some(
                match p.status {
                    PurchaseStatus::Requested => "requested",
                    PurchaseStatus::Ordered => "ordered",
                    PurchaseStatus::Received => "received",
                    PurchaseStatus::Cancelled => "cancelled",
                }
                .to_owned(),
            ),
            search: format!("{} {}", p.isbn, p.note),
            ..Index::default()
        }
    }

    fn references(p: &PurchaseRequest) -> Vec<(&'static str, RecordType, Uuid)> {
        let mut refs = vec![("book_id", RecordType::Book, p.book_id)];
        if let Some(e) = p.escalation_id {
            refs.push(("escalation_id", RecordType::Escalation, e));
        }
        refs
    }
}

impl Kind for Books {
    const TYPE: RecordType = RecordType::Book;
    type Record = Book;

    fn validate(record: &mut Book) -> Result<(), ValidationErrors> {
        record.validate()
    }

    fn index(b: &Book) -> Index {
        let mut search = vec![b.title.clone(), b.isbn.clone(), b.publisher.clone()];
        search.extend(b.authors.iter().cloned());
        search.extend(b.subjects.iter().cloned());
        Index {
            // A book without an ISBN (older books) holds no unique key: many may have none.
            unique_key: Some(b.isbn.clone()).filter(|isbn| !isbn.is_empty()),
            search: search.join(" "),
            ..Index::default()
        }
    }

    fn unique_name() -> &'static str {
        "ISBN"
    }
}

impl Kind for Copies {
    const TYPE: RecordType = RecordType::Copy;
    type Record = Copy;

    fn validate(record: &mut Copy) -> Result<(), ValidationErrors> {
        record.validate()
    }

    fn index(c: &Copy) -> Index {
        Index {
            unique_key: Some(c.barcode.clone()),
            ref_id: Some(c.book_id),
            status: Some(c.status.as_str().to_owned()),
            search: format!("{} {} {}", c.barcode, c.call_number, c.branch),
            ..Index::default()
        }
    }

    fn references(c: &Copy) -> Vec<(&'static str, RecordType, Uuid)> {
        vec![("book_id", RecordType::Book, c.book_id)]
    }

    fn unique_name() -> &'static str {
        "barcode"
    }
}

impl Kind for Patrons {
    const TYPE: RecordType = RecordType::Patron;
    type Record = Patron;
    const HISTORY_ROLE: Role = Role::Manager;

    fn validate(record: &mut Patron) -> Result<(), ValidationErrors> {
        record.validate()
    }

    fn index(p: &Patron) -> Index {
        Index {
            // One patron per card; a patron without a card (registered before cards were
            // recorded) has none to clash.
            unique_key: Some(p.card.clone()).filter(|c| !c.is_empty()),
            search: format!("{} {} {} {}", p.name, p.email, p.branch, p.card),
            ..Index::default()
        }
    }

    fn unique_name() -> &'static str {
        "card"
    }

    const GUARDS_CHANGES: bool = true;

    /// Only a manager makes a patron premium or takes it away (a premium patron's lost hold
    /// reaches the manager: that is a manager's promise to give).
    fn may_write(role: Role, current: Option<&Patron>, new: &Patron) -> Result<(), &'static str> {
        if role.may_change_premium(current.is_some_and(|p| p.premium), new.premium) {
            Ok(())
        } else {
            Err("only a manager may set or change a patron's premium status")
        }
    }
}

/// Which indexed column of a dependent names the record it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefColumn {
    /// `ref_id`: a copy's book; a hold's, loan's or escalation's patron.
    Ref,
    /// `ref3_id`: a hold's or a loan's copy.
    Ref3,
}

/// Records of one kind that keep another from being deleted: those of `kind` whose `column`
/// names it, in one of `statuses` (any status when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependent {
    pub kind: RecordType,
    pub column: RefColumn,
    pub statuses: &'static [&'static str],
}

/// What must end before a record of `kind` may be deleted (the protocol's "Integrity"): a
/// book's copies; a copy's active or ready hold and its open loan; a patron's active or ready
/// holds, open loans and open escalations. Records that are over (a returned loan, a
/// cancelled hold) are history, not dependents.
pub fn dependents(kind: RecordType) -> &'static [Dependent] {
    const OPEN_HOLDS: &[&str] = &["active", "ready"];
    match kind {
        RecordType::Book => &[Dependent {
            kind: RecordType::Copy,
            column: RefColumn::Ref,
            statuses: &[],
        }],
        RecordType::Copy => &[
            Dependent {
                kind: RecordType::Hold,
                column: RefColumn::Ref3,
                statuses: OPEN_HOLDS,
            },
            Dependent {
                kind: RecordType::Loan,
                column: RefColumn::Ref3,
                statuses: &["on_loan"],
            },
        ],
        RecordType::Patron => &[
            Dependent {
                kind: RecordType::Hold,
                column: RefColumn::Ref,
                statuses: OPEN_HOLDS,
            },
            Dependent {
                kind: RecordType::Loan,
                column: RefColumn::Ref,
                statuses: &["on_loan"],
            },
            Dependent {
                kind: RecordType::Escalation,
                column: RefColumn::Ref,
                statuses: &["open"],
            },
        ],
        RecordType::Hold
        | RecordType::Escalation
        | RecordType::PurchaseRequest
        | RecordType::Loan => &[],
    }
}

/// The columns of a record, search text cleaned: what every write of it stores.
pub fn index_of<K: Kind>(record: &K::Record) -> Index {
    let mut index = K::index(record);
    index.search = clean_search(&index.search);
    index
}

/// Search text without control characters: they have no place there, and PostgreSQL's text
/// search refuses NUL outright.
pub fn clean_search(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
