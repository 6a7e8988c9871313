//! The app's commands and events, each declared once. The list below expands to the Tauri
//! handler, to a compile-time check that each command takes and returns the types written
//! here, to the typed events, and to [`describe`], from which `tests/ipc.rs` writes the
//! TypeScript map `ui/src/lib/bindings/commands.ts` the UI's `call` and `on` are typed by (a
//! command renamed or retyped here fails the UI's type check) and checks that build.rs and
//! `capabilities/main.json` grant exactly these commands.

use serde_json::Value;
use shelfmark_client::SyncEvent;
use shelfmark_core::address::ServerAddress;
use shelfmark_core::history::HistoryEntry;
use shelfmark_core::merge::{ConflictSummary, MergeView, Settled};
use shelfmark_core::sync_status::SyncStatus;
use shelfmark_core::wire::UserInfo;
use shelfmark_core::{Book, CancelReason, Copy, Hold, HoldStatus, Patron, RecordType};
use shelfmark_store::escalations::{EscalationDetail, EscalationSummary};
use shelfmark_store::{
    BarcodeMatch, BookDetail, BookPage, BookQuery, CachedRecord, ContestLine, ImportPreview,
    OutboxEntry, PatronActivity, SaveMode, ScanResult, ShelfHold, StaffEdits,
};
use tauri::State;
use tauri::ipc::Channel;
use uuid::Uuid;

use crate::escalations::ActionOutcome;
use crate::imports::ImportProgress;

use crate::commands::{AboutApp, Progress};
use crate::probe::Probe;
use crate::{commands, escalations, history, imports, merge, probe};
use shelfmark_client::desk::Desk;
use shelfmark_client::session::ServerSettings;

/// Declares the commands (`module::name [state the shell injects] (what the window sends) ->
/// what it gets`) and the events (`Type = "name": payload`).
macro_rules! ipc {
    (
        commands { $( $m:ident::$f:ident [$($inj:ident: $injty:ty),*] ($($arg:ident: $argty:ty),*) -> $ret:ty; )* }
        events { $( $(#[$doc:meta])* $event:ident = $name:literal: $payload:ty; )* }
    ) => {
        /// Every command the window may call, in the list's order.
        pub const COMMANDS: &[&str] = &[$(stringify!($f)),*];

        /// `(module, command, the parameters the window sends)` for each command.
        pub const PARAMETERS: &[(&str, &str, &[&str])] =
            &[$((stringify!($m), stringify!($f), &[$(stringify!($arg)),*])),*];

        /// Walks the commands (each with its parameters, then its result) and the events.
        pub fn describe(d: &mut impl Describe) {
            use by_kind::{Channel as _, Plain as _};
            $(
                d.command(stringify!($f));
                $( (&&by_kind::Ty::<$argty>::new()).describe(d, stringify!($arg)); )*
                d.result::<$ret>();
            )*
            $( d.event::<$payload>($name); )*
        }

        /// The handler Tauri calls each command through.
        pub(crate) fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($m::$f),*]
        }

        /// Each command takes and returns the types declared (never called: the compiler
        /// checks the calls).
        #[allow(dead_code)]
        mod signatures {
            use super::*;
            use crate::commands::CommandError;
            $(
                fn $f($($inj: $injty,)* $($arg: $argty),*)
                    -> impl Future<Output = Result<$ret, CommandError>> {
                    $m::$f($($inj,)* $($arg),*)
                }
            )*
        }

        $(
            $(#[$doc])*
            pub(crate) struct $event;
            impl $event {
                pub(crate) const NAME: &str = $name;
                /// Tells the window (a failure is logged: the window reads the state again).
                pub(crate) fn emit(app: &tauri::AppHandle, payload: &$payload) {
                    use tauri::Emitter as _;
                    if let Err(e) = app.emit(Self::NAME, payload) {
                        tracing::warn!("cannot send {} to the window: {e}", Self::NAME);
                    }
                }
            }
        )*
    };
}

ipc! {
    commands {
        commands::list_books [desk: State<'_, Desk>] (query: BookQuery) -> BookPage;
        commands::branches [desk: State<'_, Desk>] () -> Vec<String>;
        commands::book_detail [desk: State<'_, Desk>] (id: Uuid) -> Option<BookDetail>;
        commands::save_book [desk: State<'_, Desk>] (book: Book, mode: SaveMode) -> CachedRecord<Book>;
        commands::save_copy [desk: State<'_, Desk>] (copy: Copy, mode: SaveMode) -> CachedRecord<Copy>;
        commands::save_patron [desk: State<'_, Desk>] (patron: Patron, mode: SaveMode) -> CachedRecord<Patron>;
        commands::delete_book [desk: State<'_, Desk>] (id: Uuid) -> ();
        commands::delete_copy [desk: State<'_, Desk>] (id: Uuid) -> ();
        commands::find_by_barcode [desk: State<'_, Desk>] (barcode: String) -> Option<BarcodeMatch>;
        commands::outbox [desk: State<'_, Desk>] () -> Vec<OutboxEntry>;
        commands::retry_edit [desk: State<'_, Desk>] (seq: i64) -> ();
        commands::discard_edit [desk: State<'_, Desk>] (seq: i64) -> ();
        commands::other_staff_edits [desk: State<'_, Desk>] () -> Vec<StaffEdits>;
        commands::discard_staff_edits [desk: State<'_, Desk>] (user: String) -> ();
        commands::search_patrons [desk: State<'_, Desk>] (query: String) -> Vec<Patron>;
        commands::place_hold [desk: State<'_, Desk>] (patron_id: Uuid, book_id: Uuid) -> CachedRecord<Hold>;
        commands::cancel_hold [desk: State<'_, Desk>] (id: Uuid) -> ();
        commands::scan [desk: State<'_, Desk>] (barcode: String, patron_id: Option<Uuid>) -> ScanResult;
        commands::hold_shelf [desk: State<'_, Desk>] (branch: Option<String>) -> Vec<ShelfHold>;
        commands::move_hold [desk: State<'_, Desk>] (id: Uuid, status: HoldStatus, reason: Option<CancelReason>) -> CachedRecord<Hold>;
        commands::patron_activity [desk: State<'_, Desk>] (id: Uuid) -> PatronActivity;
        merge::conflict_inbox [desk: State<'_, Desk>] () -> Vec<ConflictSummary>;
        merge::merge_view [desk: State<'_, Desk>] (seq: i64, choices: Vec<Settled>) -> MergeView;
        merge::merge_choices [desk: State<'_, Desk>] (seq: i64) -> Vec<Settled>;
        merge::save_merge [desk: State<'_, Desk>] (seq: i64, choices: Vec<Settled>) -> ();
        merge::keep_mine [desk: State<'_, Desk>] (seq: i64, record: Option<Value>) -> ();
        commands::sync_status [desk: State<'_, Desk>] () -> SyncStatus;
        commands::watch_sync [progress: State<'_, Progress>] (on_event: Channel<SyncEvent>) -> ();
        commands::sign_in [desk: State<'_, Desk>] (server: String, ca_cert: Option<String>, username: String, password: String) -> UserInfo;
        commands::server_address [] (address: String) -> Option<ServerAddress>;
        commands::server_settings [desk: State<'_, Desk>] () -> ServerSettings;
        commands::sign_out [desk: State<'_, Desk>] () -> Option<String>;
        commands::sync_now [desk: State<'_, Desk>] () -> ();
        escalations::escalations [desk: State<'_, Desk>] () -> Vec<EscalationSummary>;
        escalations::escalation_detail [desk: State<'_, Desk>] (id: Uuid) -> Option<EscalationDetail>;
        escalations::reassign_copy [desk: State<'_, Desk>] (id: Uuid, etag: String, hold_id: Uuid, note: String) -> ActionOutcome;
        escalations::flag_purchase [desk: State<'_, Desk>] (id: Uuid, etag: String, quantity: u32, note: String) -> ActionOutcome;
        escalations::resolve_escalation [desk: State<'_, Desk>] (id: Uuid, etag: String, note: String) -> ActionOutcome;
        imports::preview_marc_import [desk: State<'_, Desk>] (path: String) -> ImportPreview;
        imports::import_marc [desk: State<'_, Desk>] (path: String, on_progress: Channel<ImportProgress>) -> ImportPreview;
        history::history [desk: State<'_, Desk>] (kind: RecordType, id: Uuid) -> Vec<HistoryEntry>;
        history::book_contest [desk: State<'_, Desk>] (id: Uuid) -> Vec<ContestLine>;
        commands::about_app [about: State<'_, AboutApp>] () -> AboutApp;
        probe::catalogue_visible [probe: State<'_, Probe>] () -> ();
    }
    events {
        /// The status bar's state changed.
        SyncStatusChanged = "sync-status": SyncStatus;
    }
}

/// What [`describe`] tells about each command and event, with its types.
pub trait Describe {
    /// A command; its parameters and its result follow.
    fn command(&mut self, name: &'static str);
    fn parameter<T: ts_rs::TS + 'static>(&mut self, name: &'static str);
    /// A parameter that is a channel the window receives `T`s on.
    fn channel<T: ts_rs::TS + 'static>(&mut self, name: &'static str);
    fn result<T: ts_rs::TS + 'static>(&mut self);
    fn event<T: ts_rs::TS + 'static>(&mut self, name: &'static str);
}

/// Tells a channel parameter from a plain one by its type (the more specific impl is found
/// first through the extra reference).
mod by_kind {
    use std::marker::PhantomData;

    use super::Describe;

    pub(super) struct Ty<T: ?Sized>(PhantomData<T>);

    impl<T: ?Sized> Ty<T> {
        pub(super) fn new() -> Ty<T> {
            Ty(PhantomData)
        }
    }

    pub(super) trait Plain {
        fn describe(&self, d: &mut impl Describe, name: &'static str);
    }

    impl<T: ts_rs::TS + 'static> Plain for Ty<T> {
        fn describe(&self, d: &mut impl Describe, name: &'static str) {
            d.parameter::<T>(name);
        }
    }

    pub(super) trait Channel {
        fn describe(&self, d: &mut impl Describe, name: &'static str);
    }

    impl<T: ts_rs::TS + 'static> Channel for &Ty<tauri::ipc::Channel<T>> {
        fn describe(&self, d: &mut impl Describe, name: &'static str) {
            d.channel::<T>(name);
        }
    }
}
