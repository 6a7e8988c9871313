//! The three-way merge: what the desktop app does when the server answers 409.
//!
//! The librarian's offline edit (mine) and the server's current record (theirs) both descend
//! from the revision the edit started from (base). Everything here is pure: values in, values
//! out, so the UI can keep every [`MergeState`] for undo and the sync engine can merge without
//! a window.
//!
//! * [`text`]: line-by-line merge of text, agreeing with `git merge-file` (also behind
//!   `shelfmark merge-file`).
//! * [`list`]: ordered-set merge of `authors` and `subjects`.
//! * [`record`]: field-by-field merge of books, copies and patrons.
//! * [`state`]: the conflicts left, settling them one by one, and the final record.
//! * [`words`]: word-level changes inside lines, for highlighting.
//! * [`session`]: one record's merge from its JSON versions with the librarian's choices
//!   replayed (the merge screen, `shelfmark conflicts` and the sync engine's clean merge).
//! * [`view`]: the session as the merge screen receives it.

mod diff;
pub mod list;
pub mod record;
pub mod session;
pub mod state;
pub mod text;
pub mod view;
pub mod words;

pub use list::{ListPiece, merge_list};
pub use record::{FieldKind, FieldMismatch, FieldValue, Record};
pub use session::{
    Choice, ConflictKey, FieldState, FieldStatus, MergeSession, OpenConflict, SessionError,
    Settled, Side,
};
pub use state::{
    Conflict, ConflictId, ConflictLocation, FieldChanges, MergeError, MergeState, Resolution,
    merge_records,
};
pub use text::{
    ConflictStyle, LineEnding, MergeLevel, TextChunk, TextConflict, TextMerge, TextMergeOptions,
    merge_text,
};
pub use view::{
    ConflictSummary, ConflictView, FieldRow, LocationKind, MergeView, Words, record_label,
};
pub use words::{WordChange, WordTag, word_changes};
