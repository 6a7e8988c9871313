// An in-memory Backend for UI tests: the same interface the Tauri implementation fills, with
// just enough behaviour (search, pending edits, an outbox) to exercise the screens.
import type { ConflictSummary, JsonValue, MergeView, Settled } from "./backend";
import type { Backend, Book, BookSummary, Copy, Hold, HoldView, OutboxEntry, Patron, SaveMode, SyncEvent, SyncStatus } from "./backend";
import type { ActionOutcome, EscalationDetail, EscalationSummary, HistoryEntry, StaffEdits } from "./backend";

export interface FakeBackend extends Backend {
  books: Book[];
  copies: Copy[];
  entries: OutboxEntry[];
  /** Other staff's edits waiting on this computer. */
  otherStaff: StaffEdits[];
  queries: string[];
  syncRequests: number;
  /** How many times the catalogue said its first rows were painted (the startup probe). */
  visibleReports: number;
  signIns: { server: string; username: string }[];
  patrons: Patron[];
  /** Every patron save asked for, in order, as the form sent it. */
  savedPatrons: { patron: Patron; mode: SaveMode }[];
  inbox: ConflictSummary[];
  merges: Map<number, (choices: Settled[]) => MergeView>;
  savedMerges: { seq: number; choices: Settled[]; record?: JsonValue | null }[];
  /** The choices each merge was last viewed with, as the cache keeps them. */
  keptChoices: Map<number, Settled[]>;
  holds: HoldView[];
  /** The escalations the server knows, with their detail; the list is derived from them. */
  escalationDetails: EscalationDetail[];
  /** The manager actions asked for, in order. */
  escalationActions: { action: string; id: string; etag: string; args: (string | number)[] }[];
  /** When set, the next action answers this conflict (and the detail becomes its detail). */
  nextConflict: { message: string; detail: EscalationDetail } | null;
  /** Each record's history as the server would answer it, by `kind:id`. */
  histories: Map<string, HistoryEntry[]>;
  /** When set, asking for a history fails with this message (offline, say). */
  historyError: string | null;
  /** The histories asked for, as `kind:id`. */
  historyRequests: string[];
  emitStatus(status: SyncStatus): void;
  emitEvent(event: SyncEvent): void;
}

/** A hold as the server sends it: only what a test cares about given, the rest as placed. */
export function holdOf(fields: Pick<Hold, "id" | "patron_id" | "book_id"> & Partial<Hold>): Hold {
  return {
    copy_id: null,
    status: "active",
    cancel_reason: null,
    pickup_branch: "",
    placed_at: null,
    ready_at: null,
    pickup_by: null,
    fulfilled_at: null,
    loan_id: null,
    ...fields,
  };
}

export function fakeBackend(books: Book[], status: SyncStatus, copies: Copy[] = []): FakeBackend {
  const listeners = new Set<(s: SyncStatus) => void>();
  const eventListeners = new Set<(e: SyncEvent) => void>();
  const pending = new Set<string>();
  const summary = (b: Book): BookSummary => {
    const own = fake.copies.filter((c) => c.book_id === b.id);
    return {
      id: b.id,
      title: b.title,
      authors: b.authors,
      year: b.year,
      isbn: b.isbn,
      copies_total: own.length,
      copies_available: own.filter((c) => c.status === "available").length,
      pending: pending.has(b.id),
    };
  };
  const fake: FakeBackend = {
    books,
    copies,
    entries: [],
    otherStaff: [],
    queries: [],
    syncRequests: 0,
    visibleReports: 0,
    async listBooks(query) {
      fake.queries.push(query.text);
      const q = query.text.trim().toLowerCase();
      const rows = fake.books
        .filter((b) => !q || b.title.toLowerCase().includes(q) || b.authors.some((a) => a.toLowerCase().includes(q)))
        .filter((b) => !query.available_only || fake.copies.some((c) => c.book_id === b.id && c.status === "available"))
        .sort((a, b) => a.title.localeCompare(b.title))
        .map(summary);
      return { total: rows.length, offset: query.offset, rows: rows.slice(query.offset, query.offset + query.limit) };
    },
    async branches() {
      return [...new Set(fake.copies.map((c) => c.branch))].sort();
    },
    async bookDetail(id) {
      const book = fake.books.find((b) => b.id === id);
      if (!book) return null;
      const record = <R>(r: R, p: boolean) => ({ record: r, etag: '"1"', pending: p, in_conflict: false });
      return {
        book: record(book, pending.has(id)),
        copies: fake.copies.filter((c) => c.book_id === id).map((c) => record(c, pending.has(c.id))),
        holds: fake.holds.filter((h) => h.hold.record.book_id === id),
      };
    },
    async saveBook(book, mode) {
      if (!/^97[89]\d{10}$/.test(book.isbn.replace(/-/g, ""))) {
        throw { message: "isbn: bad", fields: [{ field: "isbn", message: "the check digit is wrong" }] };
      }
      const saved = { ...book, id: mode === "create" ? `new-${fake.books.length}` : book.id };
      fake.books = [...fake.books.filter((b) => b.id !== saved.id), saved];
      pending.add(saved.id);
      return { record: saved, etag: null, pending: true, in_conflict: false };
    },
    async saveCopy(copy, mode) {
      const saved = { ...copy, id: mode === "create" ? `copy-${fake.copies.length}` : copy.id };
      fake.copies = [...fake.copies.filter((c) => c.id !== saved.id), saved];
      pending.add(saved.id);
      return { record: saved, etag: null, pending: true, in_conflict: false };
    },
    async deleteBook(id) {
      fake.books = fake.books.filter((b) => b.id !== id);
    },
    async deleteCopy(id) {
      fake.copies = fake.copies.filter((c) => c.id !== id);
    },
    async findByBarcode(barcode) {
      const copy = fake.copies.find((c) => c.barcode === barcode);
      return copy ? { copy, book: fake.books.find((b) => b.id === copy.book_id) ?? null } : null;
    },
    async outbox() {
      return fake.entries;
    },
    async retryEdit(seq) {
      fake.entries = fake.entries.map((e) => (e.seq === seq ? { ...e, state: "pending", problem: null } : e));
    },
    async discardEdit(seq) {
      fake.entries = fake.entries.filter((e) => e.seq !== seq);
    },
    async otherStaffEdits() {
      return fake.otherStaff;
    },
    async discardStaffEdits(user) {
      fake.otherStaff = fake.otherStaff.filter((s) => s.user !== user);
    },
    patrons: [],
    savedPatrons: [],
    holds: [],
    // As the cache searches: the name or the email contains the text, or the card is it;
    // premium patrons first, then by name, at most 50.
    async searchPatrons(query) {
      const q = query.trim().toLowerCase();
      return fake.patrons
        .filter((p) => p.name.toLowerCase().includes(q) || p.email.toLowerCase().includes(q) || (q !== "" && p.card.toLowerCase() === q))
        .sort((a, b) => Number(b.premium) - Number(a.premium) || a.name.localeCompare(b.name))
        .slice(0, 50);
    },
    // As the cache saves: a card another patron has is refused by its field, naming that patron.
    async savePatron(patron, mode) {
      fake.savedPatrons.push({ patron, mode });
      const saved = { ...patron, card: patron.card.trim() };
      const holder = saved.card && fake.patrons.find((p) => p.id !== saved.id && p.card === saved.card);
      if (holder) {
        const message = `patron ${holder.name} already has this card`;
        throw { message: `card: ${message}`, fields: [{ field: "card", message }] };
      }
      fake.patrons = [...fake.patrons.filter((p) => p.id !== saved.id), saved];
      pending.add(saved.id);
      return { record: saved, etag: null, pending: true, in_conflict: false };
    },
    async placeHold(patronId, bookId) {
      const hold: Hold = holdOf({ id: `hold-${fake.holds.length}`, patron_id: patronId, book_id: bookId });
      fake.holds.push({ hold: { record: hold, etag: null, pending: true, in_conflict: false }, patron: fake.patrons.find((p) => p.id === patronId) ?? null, copy: null, lost: null });
      return fake.holds[fake.holds.length - 1].hold;
    },
    async cancelHold(id) {
      fake.holds = fake.holds.filter((h) => h.hold.record.id !== id);
    },
    signIns: [],
    async signIn(server, username, password) {
      fake.signIns.push({ server, username });
      if (password !== "right") throw { message: "Wrong user name or password.", fields: [] };
      fake.emitStatus({ ...status, connection: "online", server, user: username });
      return { id: "u1", name: username, role: "librarian" };
    },
    async signOut() {
      fake.emitStatus({ ...status, connection: "signed_out", user: null });
    },
    inbox: [],
    merges: new Map(),
    savedMerges: [],
    keptChoices: new Map(),
    async conflictInbox() {
      return fake.inbox;
    },
    async mergeView(seq, choices) {
      const make = fake.merges.get(seq);
      if (!make) throw { message: `no conflict ${seq}`, fields: [] };
      fake.keptChoices.set(seq, choices);
      return make(choices);
    },
    async mergeChoices(seq) {
      return fake.keptChoices.get(seq) ?? [];
    },
    async saveMerge(seq, choices) {
      fake.savedMerges.push({ seq, choices });
      fake.inbox = fake.inbox.filter((c) => c.seq !== seq);
    },
    async keepMine(seq, record) {
      fake.savedMerges.push({ seq, choices: [], record });
      fake.inbox = fake.inbox.filter((c) => c.seq !== seq);
    },
    async syncStatus() {
      return status;
    },
    escalationDetails: [],
    escalationActions: [],
    nextConflict: null,
    async escalations() {
      const rows: EscalationSummary[] = fake.escalationDetails.map((d) => {
        const { patron, book, active_holds: _h, purchase_requests: _p, etag, offline: _o, ...escalation } = d;
        return { escalation, etag, patron_name: patron?.name ?? null, book_title: book?.title ?? null, branch: patron?.branch ?? null };
      });
      return rows.sort((a, b) => Number(a.escalation.status !== "open") - Number(b.escalation.status !== "open"));
    },
    async escalationDetail(id) {
      return fake.escalationDetails.find((d) => d.id === id) ?? null;
    },
    async reassignCopy(id, etag, holdId, note) {
      return escalationAction("reassign", id, etag, [holdId, note], (d) => {
        const lost = d.active_holds.find((h) => h.hold.id === holdId)!;
        const hold: Hold = holdOf({ id: `new-hold-${holdId}`, patron_id: d.patron_id, book_id: d.book_id, copy_id: lost.hold.copy_id });
        const won = { ...lost, hold, hold_etag: '"1"', holder: d.patron, premium: true, since: "2026-11-22T11:00:00Z" };
        return { ...d, status: "reassigned", resolution_note: note || null, active_holds: [...d.active_holds.filter((h) => h !== lost), won] };
      });
    },
    async flagPurchase(id, etag, quantity, note) {
      return escalationAction("purchase", id, etag, [quantity, note], (d) => ({
        ...d,
        status: "purchase_flagged",
        purchase_requests: [...d.purchase_requests, { id: `pr-${id}`, book_id: d.book_id, isbn: d.book?.isbn ?? "", escalation_id: id, requested_by: "manager", quantity, note, status: "requested" }],
      }));
    },
    async resolveEscalation(id, etag, note) {
      return escalationAction("resolve", id, etag, [note], (d) => ({ ...d, status: "resolved", resolution_note: note }));
    },
    histories: new Map(),
    historyError: null,
    historyRequests: [],
    async history(kind, id) {
      fake.historyRequests.push(`${kind}:${id}`);
      if (fake.historyError) throw { message: fake.historyError, fields: [] };
      return fake.histories.get(`${kind}:${id}`) ?? [];
    },
    async syncNow() {
      fake.syncRequests += 1;
    },
    async catalogueVisible() {
      fake.visibleReports += 1;
    },
    async onSyncStatus(handler) {
      listeners.add(handler);
      return () => listeners.delete(handler);
    },
    async onSyncEvent(handler) {
      eventListeners.add(handler);
      return () => eventListeners.delete(handler);
    },
    emitEvent(e) {
      for (const l of eventListeners) l(e);
    },
    emitStatus(s) {
      status = s;
      for (const l of listeners) l(s);
    },
  };
  function escalationAction(
    action: string,
    id: string,
    etag: string,
    args: (string | number)[],
    change: (d: EscalationDetail) => EscalationDetail,
  ): ActionOutcome {
    fake.escalationActions.push({ action, id, etag, args });
    const replace = (next: EscalationDetail) => (fake.escalationDetails = fake.escalationDetails.map((d) => (d.id === id ? next : d)));
    if (fake.nextConflict) {
      const { message, detail } = fake.nextConflict;
      fake.nextConflict = null;
      replace(detail);
      return { outcome: "conflict", message, detail };
    }
    const current = fake.escalationDetails.find((d) => d.id === id)!;
    const next = { ...change(current), etag: `"v${Number(current.etag?.replace(/\D/g, "") || 1) + 1}"` };
    replace(next);
    return { outcome: "done", detail: next };
  }
  return fake;
}

export function book(title: string, authors: string[]): Book {
  return {
    id: `id-${title}`,
    isbn: "9780306406157",
    title,
    authors,
    publisher: "",
    year: 2001,
    subjects: [],
    summary: "",
    notes: "",
  };
}

export function copyOf(b: Book, barcode: string, status: Copy["status"] = "available", branch = "Central"): Copy {
  return { id: `copy-${barcode}`, book_id: b.id, barcode, branch, call_number: "", status };
}

export const onlineStatus: SyncStatus = {
  connection: "online",
  server: "http://127.0.0.1:8080",
  user: "librarian",
  role: "librarian",
  syncing: false,
  last_sync: "2026-11-22T10:00:00Z",
  last_error: null,
  last_seq: 42,
  pending_edits: 0,
  failed_edits: 0,
  conflicts: 0,
  lost_holds: 0,
};
