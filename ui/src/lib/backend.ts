// The one seam between the UI and the Rust side. Components receive a `Backend`; the app
// passes the Tauri implementation, UI tests pass a fake. The types are generated from the
// Rust ones (ts-rs, `lib/bindings/`), and every command goes through `call`, typed by the
// generated command map (`bindings/commands.ts`): a command renamed or retyped on the Rust
// side fails the type check here.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { open } from "@tauri-apps/plugin-dialog";
import type { Commands, Events } from "./bindings/commands";
import type { BarcodeMatch } from "./bindings/BarcodeMatch";
import type { Book } from "./bindings/Book";
import type { BookDetail } from "./bindings/BookDetail";
import type { BookPage } from "./bindings/BookPage";
import type { BookQuery } from "./bindings/BookQuery";
import type { CachedRecord } from "./bindings/CachedRecord";
import type { CommandError } from "./bindings/CommandError";
import type { Copy } from "./bindings/Copy";
import type { Hold } from "./bindings/Hold";
import type { HoldView } from "./bindings/HoldView";
import type { OutboxEntry } from "./bindings/OutboxEntry";
import type { StaffEdits } from "./bindings/StaffEdits";
import type { Patron } from "./bindings/Patron";
import type { SaveMode } from "./bindings/SaveMode";
import type { SyncEvent } from "./bindings/SyncEvent";
import type { ConflictSummary } from "./bindings/ConflictSummary";
import type { MergeView } from "./bindings/MergeView";
import type { Settled } from "./bindings/Settled";
import type { JsonValue } from "./bindings/serde_json/JsonValue";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { UserInfo } from "./bindings/UserInfo";
import type { ActionOutcome } from "./bindings/ActionOutcome";
import type { EscalationDetail } from "./bindings/EscalationDetail";
import type { EscalationSummary } from "./bindings/EscalationSummary";
import type { HistoryEntry } from "./bindings/HistoryEntry";
import type { ContestLine } from "./bindings/ContestLine";
import type { RecordType } from "./bindings/RecordType";
import type { CancelReason } from "./bindings/CancelReason";
import type { HoldStatus } from "./bindings/HoldStatus";
import type { Loan } from "./bindings/Loan";
import type { LoanView } from "./bindings/LoanView";
import type { Outcome } from "./bindings/Outcome";
import type { PatronActivity } from "./bindings/PatronActivity";
import type { ScanResult } from "./bindings/ScanResult";
import type { ShelfHold } from "./bindings/ShelfHold";
import type { ServerSettings } from "./bindings/ServerSettings";
import type { ImportPreview } from "./bindings/ImportPreview";
import type { AboutApp } from "./bindings/AboutApp";
import type { ServerAddress } from "./bindings/ServerAddress";
import type { ImportProgress } from "./bindings/ImportProgress";

export type {
  BarcodeMatch,
  Book,
  BookDetail,
  BookPage,
  BookQuery,
  CachedRecord,
  CommandError,
  Copy,
  Hold,
  HoldView,
  OutboxEntry,
  Patron,
  StaffEdits,
  SaveMode,
  SyncEvent,
  ServerSettings,
  SyncStatus,
  UserInfo,
};
export type { BookSummary } from "./bindings/BookSummary";
export type { AboutApp, ImportPreview, ImportProgress, ServerAddress };
export type { KnownBook } from "./bindings/KnownBook";
export type { RejectedRecord } from "./bindings/RejectedRecord";
export type { ConflictSummary, MergeView, Settled, JsonValue };
export type { Choice } from "./bindings/Choice";
export type { ConflictView } from "./bindings/ConflictView";
export type { FieldRow } from "./bindings/FieldRow";
export type { Words } from "./bindings/Words";
export type { Connection } from "./bindings/Connection";
export type { CopyStatus } from "./bindings/CopyStatus";
export type { FieldError } from "./bindings/FieldError";
export type { ActionOutcome, EscalationDetail, EscalationSummary };
export type { ActiveHold } from "./bindings/ActiveHold";
export type { EscalationStatus } from "./bindings/EscalationStatus";
export type { PurchaseRequest } from "./bindings/PurchaseRequest";
export type { ContestLine, HistoryEntry, RecordType };
export type { EntryKind } from "./bindings/EntryKind";
export type { FieldChange } from "./bindings/FieldChange";
export type { RevisionAuthor } from "./bindings/RevisionAuthor";
export type { CancelReason, HoldStatus, Loan, LoanView, Outcome, PatronActivity, ScanResult, ShelfHold };

export interface Backend {
  listBooks(query: BookQuery): Promise<BookPage>;
  branches(): Promise<string[]>;
  bookDetail(id: string): Promise<BookDetail | null>;
  saveBook(book: Book, mode: SaveMode): Promise<CachedRecord<Book>>;
  saveCopy(copy: Copy, mode: SaveMode): Promise<CachedRecord<Copy>>;
  deleteBook(id: string): Promise<void>;
  deleteCopy(id: string): Promise<void>;
  findByBarcode(barcode: string): Promise<BarcodeMatch | null>;
  outbox(): Promise<OutboxEntry[]>;
  retryEdit(seq: number): Promise<void>;
  discardEdit(seq: number): Promise<void>;
  /** Other staff whose edits wait on this computer for their next sign-in. */
  otherStaffEdits(): Promise<StaffEdits[]>;
  /** Discards every edit `user` left on this computer (managers only). */
  discardStaffEdits(user: string): Promise<void>;
  /** Patrons whose name or email contains `query`, or whose card is `query` (at most 50). */
  searchPatrons(query: string): Promise<Patron[]>;
  /** Registers or edits a patron in the cache and queues the edit; a card another patron has
   * is refused at once (a `card` field error). */
  savePatron(patron: Patron, mode: SaveMode): Promise<CachedRecord<Patron>>;
  placeHold(patronId: string, bookId: string): Promise<CachedRecord<Hold>>;
  cancelHold(id: string): Promise<void>;
  /** One scan at the circulation desk: a library card selects its patron; a copy with
   * `patronId` (the card scanned before it) is checked out to them, a copy alone is checked
   * in or goes to the hold shelf. The change is queued for the server. */
  scan(barcode: string, patronId: string | null): Promise<ScanResult>;
  /** The holds of `branch` (every branch when null) to fetch (`active`), then those waiting
   * for their patron (`ready`), oldest first. */
  holdShelf(branch: string | null): Promise<ShelfHold[]>;
  /** Ready for pickup, collected (`fulfilled`) or cancelled with the patron's or staff's
   * reason; queued. */
  moveHold(id: string, status: HoldStatus, reason: CancelReason | null): Promise<CachedRecord<Hold>>;
  /** A patron's current holds and loans. */
  patronActivity(id: string): Promise<PatronActivity>;
  /** Signs in, trusting the library's CA file `caCert` (a PEM file's path) besides the
   * system's authorities when given; rejects with what to fix (the password, the address, the
   * server's certificate, a throttled name). */
  signIn(server: string, caCert: string | null, username: string, password: string): Promise<UserInfo>;
  /** The server field read as the sign-in reads it (https when no scheme is typed; plain HTTP
   * to another machine flagged `unencrypted`); null while it is not an address. */
  serverAddress(address: string): Promise<ServerAddress | null>;
  /** The server and CA file the last sign-in took, for the sign-in screen to offer again. */
  serverSettings(): Promise<ServerSettings>;
  /** Ends the session on the server and forgets it here; resolves with what to tell the
   * person when the server could not be told (offline), else null. */
  signOut(): Promise<string | null>;
  conflictInbox(): Promise<ConflictSummary[]>;
  mergeView(seq: number, choices: Settled[]): Promise<MergeView>;
  /** The choices last made on this conflict's merge, kept by the cache. */
  mergeChoices(seq: number): Promise<Settled[]>;
  saveMerge(seq: number, choices: Settled[]): Promise<void>;
  keepMine(seq: number, record: JsonValue | null): Promise<void>;
  syncStatus(): Promise<SyncStatus>;
  syncNow(): Promise<void>;
  /** Every cached escalation, open ones first. */
  escalations(): Promise<EscalationSummary[]>;
  /** The server's detail when it answers, else the cache's (`offline`). */
  escalationDetail(id: string): Promise<EscalationDetail | null>;
  /** Manager only, online only; `etag` is the detail's. */
  reassignCopy(id: string, etag: string, holdId: string, note: string): Promise<ActionOutcome>;
  flagPurchase(id: string, etag: string, quantity: number, note: string): Promise<ActionOutcome>;
  resolveEscalation(id: string, etag: string, note: string): Promise<ActionOutcome>;
  /** A record's history from the server, newest first, with what each revision changed.
   * Online only: offline it rejects with "History needs a connection to the server." */
  history(kind: RecordType, id: string): Promise<HistoryEntry[]>;
  /** Who got a book's copies and why: every decision the server made, in order (online). */
  bookContest(id: string): Promise<ContestLine[]>;
  /** Asks for a MARC file (ISO 2709 or MARCXML) in the system's file chooser; null when the
   * person cancels. */
  chooseMarcFile(): Promise<string | null>;
  /** What importing the MARC file at `path` would do (new, already in the catalogue,
   * rejected and why); nothing is written. Rejects when the file cannot be read as MARC. */
  previewMarcImport(path: string): Promise<ImportPreview>;
  /** Queues each new book of the MARC file at `path` as an offline create (sent at the next
   * sync), telling `onProgress` as it goes; resolves with what was done (`new`: queued). */
  importMarc(path: string, onProgress: (progress: ImportProgress) => void): Promise<ImportPreview>;
  /** The app's version and the folder of its log files (for the About box). */
  about(): Promise<AboutApp>;
  /** The catalogue's first rows are painted (the startup probe; a no-op unless
   * `SHELFMARK_STARTUP_PROBE` is set). */
  catalogueVisible(): Promise<void>;
  /** Calls `handler` on every status change until the returned function is called. */
  onSyncStatus(handler: (status: SyncStatus) => void): Promise<UnlistenFn>;
  /** Calls `handler` on every step of a sync (pages pulled, edits pushed...) until the
   * returned function is called. */
  onSyncEvent(handler: (event: SyncEvent) => void): Promise<UnlistenFn>;
}

/** Calls the Rust command `name` with its arguments (none for a command that takes none). */
export function call<K extends keyof Commands>(
  name: K,
  ...args: Commands[K]["args"] extends Record<string, never> ? [] : [Commands[K]["args"]]
): Promise<Commands[K]["result"]> {
  return invoke<Commands[K]["result"]>(name, args[0]);
}

/** Calls `handler` with the payload of every `name` event until the returned function is called. */
export function on<K extends keyof Events>(name: K, handler: (payload: Events[K]) => void): Promise<UnlistenFn> {
  return listen<Events[K]>(name, (e) => handler(e.payload));
}

export const tauriBackend: Backend = {
  listBooks: (query) => call("list_books", { query }),
  branches: () => call("branches"),
  bookDetail: (id) => call("book_detail", { id }),
  saveBook: (book, mode) => call("save_book", { book, mode }),
  saveCopy: (copy, mode) => call("save_copy", { copy, mode }),
  deleteBook: (id) => call("delete_book", { id }),
  deleteCopy: (id) => call("delete_copy", { id }),
  findByBarcode: (barcode) => call("find_by_barcode", { barcode }),
  outbox: () => call("outbox"),
  retryEdit: (seq) => call("retry_edit", { seq }),
  discardEdit: (seq) => call("discard_edit", { seq }),
  otherStaffEdits: () => call("other_staff_edits"),
  discardStaffEdits: (user) => call("discard_staff_edits", { user }),
  searchPatrons: (query) => call("search_patrons", { query }),
  savePatron: (patron, mode) => call("save_patron", { patron, mode }),
  placeHold: (patronId, bookId) => call("place_hold", { patronId, bookId }),
  cancelHold: (id) => call("cancel_hold", { id }),
  scan: (barcode, patronId) => call("scan", { barcode, patronId }),
  holdShelf: (branch) => call("hold_shelf", { branch }),
  moveHold: (id, status, reason) => call("move_hold", { id, status, reason }),
  patronActivity: (id) => call("patron_activity", { id }),
  signIn: (server, caCert, username, password) => call("sign_in", { server, caCert, username, password }),
  serverAddress: (address) => call("server_address", { address }),
  serverSettings: () => call("server_settings"),
  signOut: () => call("sign_out"),
  conflictInbox: () => call("conflict_inbox"),
  mergeView: (seq, choices) => call("merge_view", { seq, choices }),
  mergeChoices: (seq) => call("merge_choices", { seq }),
  saveMerge: (seq, choices) => call("save_merge", { seq, choices }),
  keepMine: (seq, record) => call("keep_mine", { seq, record }),
  syncStatus: () => call("sync_status"),
  syncNow: () => call("sync_now"),
  escalations: () => call("escalations"),
  escalationDetail: (id) => call("escalation_detail", { id }),
  reassignCopy: (id, etag, holdId, note) => call("reassign_copy", { id, etag, holdId, note }),
  flagPurchase: (id, etag, quantity, note) => call("flag_purchase", { id, etag, quantity, note }),
  resolveEscalation: (id, etag, note) => call("resolve_escalation", { id, etag, note }),
  history: (kind, id) => call("history", { kind, id }),
  bookContest: (id) => call("book_contest", { id }),
  chooseMarcFile: async () => {
    const path = await open({
      title: "Import MARC records",
      multiple: false,
      directory: false,
      filters: [
        { name: "MARC records", extensions: ["mrc", "marc", "iso", "xml", "marcxml"] },
        { name: "All files", extensions: ["*"] },
      ],
    });
    return path;
  },
  previewMarcImport: (path) => call("preview_marc_import", { path }),
  importMarc: (path, onProgress) => call("import_marc", { path, onProgress: new Channel<ImportProgress>(onProgress) }),
  about: () => call("about_app"),
  catalogueVisible: () => call("catalogue_visible"),
  onSyncStatus: (handler) => on("sync-status", handler),
  onSyncEvent: async (handler) => {
    // The steps of each sync come over a channel the engine keeps; stopping mutes it here
    // (a later `watch_sync` replaces it on the Rust side).
    let live = true;
    const channel = new Channel<SyncEvent>((event) => {
      if (live) handler(event);
    });
    await call("watch_sync", { onEvent: channel });
    return () => {
      live = false;
    };
  },
};

/** The message of whatever a command rejected with. */
export function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** The field errors of a rejected save, by field name. */
export function fieldErrors(e: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof e === "object" && e !== null && "fields" in e) {
    for (const f of (e as CommandError).fields) out[f.field] = out[f.field] ? `${out[f.field]}; ${f.message}` : f.message;
  }
  return out;
}
