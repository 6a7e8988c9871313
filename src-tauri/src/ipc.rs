//! The app's commands and events, each declared once. The list below expands to the Tauri
//! handler, to the command names the capability grants (checked against build.rs and
//! `capabilities/main.json` by a test), to a compile-time check that each command takes and
//! returns the types written here, and (in `cargo test`) to the TypeScript map
//! `ui/src/lib/bindings/commands.ts` the UI's `call` and `listen` are typed by: a command
//! renamed or retyped here fails the UI's type check.

use serde_json::Value;
use shelfmark_client::SyncEvent;
use shelfmark_core::sync_status::SyncStatus;
use shelfmark_core::wire::UserInfo;
use shelfmark_core::{Book, Copy, Hold, Patron};
use shelfmark_store::escalations::{EscalationDetail, EscalationSummary};
use shelfmark_store::{
    BarcodeMatch, BookDetail, BookPage, BookQuery, CachedRecord, OutboxEntry, SaveMode,
};
use tauri::State;
use tauri::ipc::Channel;
use uuid::Uuid;

use crate::escalations::ActionOutcome;
use crate::merge::{ConflictSummary, MergeView, Settled};
use crate::probe::Probe;
use crate::sync::Engine;
use crate::{commands, escalations, merge, probe};

/// Declares the commands (`module::name [state the shell injects] (what the window sends) ->
/// what it gets`) and the events (`Type = "name": payload`).
macro_rules! ipc {
    (
        commands { $( $m:ident::$f:ident [$($inj:ident: $injty:ty),*] ($($arg:ident: $argty:ty),*) -> $ret:ty; )* }
        events { $( $(#[$doc:meta])* $event:ident = $name:literal: $payload:ty; )* }
    ) => {
        /// Every command the window may call.
        #[cfg(test)]
        pub(crate) const COMMANDS: &[&str] = &[$(stringify!($f)),*];

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

        /// The commands as TypeScript: `name: { args: {...}; result: ... }`, and the events.
        #[cfg(test)]
        pub(crate) fn typescript() -> String {
            use typescript::{Channel as _, Plain as _};
            let mut ts = typescript::Writer::new();
            $(
                let args: Vec<String> = vec![$(
                    format!("{}: {}", typescript::camel(stringify!($arg)),
                        (&&typescript::Ty::<$argty>::new()).ts(&mut ts))
                ),*];
                let result = ts.name::<$ret>();
                ts.command(stringify!($f), &args, &result);
            )*
            $( let payload = ts.name::<$payload>(); ts.event($name, &payload); )*
            ts.finish()
        }

        /// The names of the command functions' parameters the window sends, by command.
        #[cfg(test)]
        pub(crate) const PARAMETERS: &[(&str, &str, &[&str])] =
            &[$((stringify!($m), stringify!($f), &[$(stringify!($arg)),*])),*];
    };
}

ipc! {
    commands {
        commands::list_books [engine: State<'_, Engine>] (query: BookQuery) -> BookPage;
        commands::branches [engine: State<'_, Engine>] () -> Vec<String>;
        commands::book_detail [engine: State<'_, Engine>] (id: Uuid) -> Option<BookDetail>;
        commands::save_book [engine: State<'_, Engine>] (book: Book, mode: SaveMode) -> CachedRecord<Book>;
        commands::save_copy [engine: State<'_, Engine>] (copy: Copy, mode: SaveMode) -> CachedRecord<Copy>;
        commands::delete_book [engine: State<'_, Engine>] (id: Uuid) -> ();
        commands::delete_copy [engine: State<'_, Engine>] (id: Uuid) -> ();
        commands::find_by_barcode [engine: State<'_, Engine>] (barcode: String) -> Option<BarcodeMatch>;
        commands::outbox [engine: State<'_, Engine>] () -> Vec<OutboxEntry>;
        commands::retry_edit [engine: State<'_, Engine>] (seq: i64) -> ();
        commands::discard_edit [engine: State<'_, Engine>] (seq: i64) -> ();
        commands::search_patrons [engine: State<'_, Engine>] (query: String) -> Vec<Patron>;
        commands::place_hold [engine: State<'_, Engine>] (patron_id: Uuid, book_id: Uuid) -> CachedRecord<Hold>;
        commands::cancel_hold [engine: State<'_, Engine>] (id: Uuid) -> ();
        merge::conflict_inbox [engine: State<'_, Engine>] () -> Vec<ConflictSummary>;
        merge::merge_view [engine: State<'_, Engine>] (seq: i64, choices: Vec<Settled>) -> MergeView;
        merge::save_merge [engine: State<'_, Engine>] (seq: i64, choices: Vec<Settled>) -> ();
        merge::keep_mine [engine: State<'_, Engine>] (seq: i64, record: Option<Value>) -> ();
        commands::sync_status [engine: State<'_, Engine>] () -> SyncStatus;
        commands::watch_sync [engine: State<'_, Engine>] (on_event: Channel<SyncEvent>) -> ();
        commands::sign_in [engine: State<'_, Engine>] (server: String, username: String, password: String) -> UserInfo;
        commands::sign_out [engine: State<'_, Engine>] () -> ();
        commands::sync_now [engine: State<'_, Engine>] () -> ();
        escalations::escalations [engine: State<'_, Engine>] () -> Vec<EscalationSummary>;
        escalations::escalation_detail [engine: State<'_, Engine>] (id: Uuid) -> Option<EscalationDetail>;
        escalations::reassign_copy [engine: State<'_, Engine>] (id: Uuid, etag: String, hold_id: Uuid, note: String) -> ActionOutcome;
        escalations::flag_purchase [engine: State<'_, Engine>] (id: Uuid, etag: String, quantity: u32, note: String) -> ActionOutcome;
        escalations::resolve_escalation [engine: State<'_, Engine>] (id: Uuid, etag: String, note: String) -> ActionOutcome;
        probe::catalogue_visible [probe: State<'_, Probe>] () -> ();
    }
    events {
        /// The status bar's state changed.
        SyncStatusChanged = "sync-status": SyncStatus;
    }
}

#[cfg(test)]
mod typescript {
    //! Writes the TypeScript map of the commands, with the imports of the binding files
    //! ts-rs writes beside it.

    use std::collections::BTreeMap;
    use std::marker::PhantomData;

    use ts_rs::{Config, TS, TypeVisitor};

    pub(super) struct Writer {
        cfg: Config,
        /// TypeScript name -> binding file (relative to the bindings folder).
        imports: BTreeMap<String, String>,
        /// The types visited for imports (some bindings name themselves).
        seen: std::collections::HashSet<std::any::TypeId>,
        channel: bool,
        commands: String,
        events: String,
    }

    impl Writer {
        pub(super) fn new() -> Writer {
            Writer {
                // Sequence numbers are JSON numbers on the wire, as in every binding.
                cfg: Config::from_env().with_large_int("number"),
                imports: BTreeMap::new(),
                seen: Default::default(),
                channel: false,
                commands: String::new(),
                events: String::new(),
            }
        }

        /// `T`'s TypeScript name, importing what it names (`()`, a command's "nothing", is
        /// `void`: Tauri resolves it as `null`).
        pub(super) fn name<T: TS + 'static + ?Sized>(&mut self) -> String {
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
                return "void".into();
            }
            Imports(self).visit::<T>();
            T::name(&self.cfg)
        }

        pub(super) fn command(&mut self, name: &str, args: &[String], result: &str) {
            let args = if args.is_empty() {
                "Record<string, never>".to_owned()
            } else {
                format!("{{ {} }}", args.join("; "))
            };
            self.commands += &format!("  {name}: {{ args: {args}; result: {result} }};\n");
        }

        pub(super) fn event(&mut self, name: &str, payload: &str) {
            self.events += &format!("  \"{name}\": {payload};\n");
        }

        pub(super) fn finish(self) -> String {
            let mut out = String::from(
                "// Generated by `cargo test -p shelfmark-desktop` from src-tauri/src/ipc.rs. \
                 Do not edit.\n",
            );
            if self.channel {
                out += "import type { Channel } from \"@tauri-apps/api/core\";\n";
            }
            for (name, path) in &self.imports {
                let path = path.trim_end_matches(".ts");
                out += &format!("import type {{ {name} }} from \"./{path}\";\n");
            }
            out += "\n/** Every command: what the window sends, and what it gets back. */\n";
            out += &format!("export type Commands = {{\n{}}};\n", self.commands);
            out += "\n/** Every event the app sends the window, with its payload. */\n";
            out += &format!("export type Events = {{\n{}}};\n", self.events);
            out
        }
    }

    /// Records the binding files a type names: itself, and its type parameters (what a `Vec`
    /// or an `Option` holds, the record of a `CachedRecord<Book>`).
    struct Imports<'a>(&'a mut Writer);

    impl TypeVisitor for Imports<'_> {
        fn visit<T: TS + 'static + ?Sized>(&mut self) {
            if !self.0.seen.insert(std::any::TypeId::of::<T>()) {
                return;
            }
            if let Some(path) = T::output_path() {
                let name = T::ident(&self.0.cfg);
                let path = path.to_string_lossy().replace('\\', "/");
                self.0.imports.insert(name, path);
            }
            T::visit_generics(self);
        }
    }

    /// A parameter's type, to pick its TypeScript by what it is (a channel or a plain type).
    pub(super) struct Ty<T: ?Sized>(PhantomData<T>);

    impl<T: ?Sized> Ty<T> {
        pub(super) fn new() -> Ty<T> {
            Ty(PhantomData)
        }
    }

    pub(super) trait Plain {
        fn ts(&self, w: &mut Writer) -> String;
    }

    impl<T: TS + 'static> Plain for Ty<T> {
        fn ts(&self, w: &mut Writer) -> String {
            w.name::<T>()
        }
    }

    pub(super) trait Channel {
        fn ts(&self, w: &mut Writer) -> String;
    }

    impl<T: TS + 'static> Channel for &Ty<tauri::ipc::Channel<T>> {
        fn ts(&self, w: &mut Writer) -> String {
            w.channel = true;
            format!("Channel<{}>", w.name::<T>())
        }
    }

    /// Tauri's name for a parameter (`patron_id` arrives as `patronId`).
    pub(super) fn camel(name: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in name.chars() {
            match c {
                '_' => upper = true,
                c if upper => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{COMMANDS, PARAMETERS, typescript};

    fn crate_file(path: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Writes `ui/src/lib/bindings/commands.ts` (as ts-rs writes the other bindings; `make
    /// test` fails when the committed file differs).
    #[test]
    fn the_typescript_command_map_is_written_beside_the_bindings() {
        let dir = ts_rs::Config::from_env().out_dir().to_path_buf();
        std::fs::create_dir_all(&dir).expect("the bindings folder");
        let text = typescript();
        assert!(text.contains("  place_hold: { args: { patronId: string; bookId: string }; result: CachedRecord<Hold> };"), "{text}");
        assert!(text.contains("import type { Channel } from \"@tauri-apps/api/core\";"));
        assert!(text.contains("  \"sync-status\": SyncStatus;"), "{text}");
        std::fs::write(dir.join("commands.ts"), text).expect("writes commands.ts");
    }

    /// The parameters declared are those of the command functions, by name (Tauri matches
    /// the window's arguments by name; the compiler checks only their types and order).
    #[test]
    fn every_declared_parameter_is_named_as_in_its_command_function() {
        for (module, command, params) in PARAMETERS {
            let source = crate_file(&format!("src/{module}.rs"));
            let start = source
                .find(&format!("async fn {command}("))
                .unwrap_or_else(|| panic!("no fn {command} in {module}.rs"));
            let signature = &source[start..];
            let signature = &signature[..signature
                .find(") ->")
                .or_else(|| signature.find(')'))
                .expect("a signature")];
            let names: Vec<&str> = signature[command.len() + 10..]
                .split(',')
                .filter_map(|p| p.split_once(':'))
                .filter(|(_, ty)| {
                    !ty.trim().starts_with("State<") && !ty.trim().starts_with("tauri::State<")
                })
                .map(|(name, _)| name.trim().trim_start_matches("mut "))
                .collect();
            assert_eq!(&names, params, "the parameters of {module}::{command}");
        }
    }

    /// build.rs declares the same commands (its `allow-` permissions), and the window's
    /// capability grants exactly those.
    #[test]
    fn build_rs_the_command_list_and_the_capability_agree() {
        let build = crate_file("build.rs");
        let listed: Vec<&str> = build
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix('"')?.strip_suffix("\","))
            .collect();
        assert_eq!(
            listed, COMMANDS,
            "build.rs lists the commands in their order"
        );
        let capability: serde_json::Value =
            serde_json::from_str(&crate_file("capabilities/main.json")).expect("JSON");
        let granted: Vec<String> = capability["permissions"]
            .as_array()
            .expect("a permission list")
            .iter()
            .filter_map(|p| p.as_str())
            .filter(|p| !p.contains(':'))
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = COMMANDS
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        assert_eq!(
            granted, expected,
            "the window is allowed each command, and no other"
        );
    }
}
