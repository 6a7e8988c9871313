//! Shelfmark's pure core: the records the library keeps, the rules they obey, the types of the
//! wire contract (`docs/PROTOCOL.md`), the three-way merge and its session, the push planner
//! and the push verdict (what an answer of the server means for a waiting edit), and a
//! record's history as its screen shows it (what each revision changed, word by word).
//!
//! This crate does no I/O: no files, no network, no SQL, no async, no Tauri. Everything that
//! touches the outside world lives in another crate and calls in here, so that the rules can be
//! tested exhaustively and shared by the server and the desktop app alike.

pub mod address;
pub mod arrivals;
pub mod circulation;
pub mod escalation_conflict;
pub mod history;
pub mod isbn;
pub mod marc;
pub mod merge;
pub mod model;
pub mod plan;
pub mod push;
pub mod sync_status;
pub mod validate;
pub mod wire;

pub use model::{
    Book, CancelReason, Copy, CopyStatus, Escalation, EscalationStatus, Hold, HoldStatus, Loan,
    LoanStatus, Patron, PurchaseRequest, PurchaseStatus, RecordType,
};
pub use validate::{FieldError, ValidationErrors};
