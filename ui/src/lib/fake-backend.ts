// An in-memory Backend for UI tests: the same interface the Tauri implementation fills, with
// just enough behaviour (search, pending edits, an outbox, the circulation desk) to exercise
// the screens.
import type { CachedRecord, CancelReason, ConflictSummary, HoldStatus, JsonValue, Loan, MergeView, Outcome, ScanResult, Settled, ShelfHold } from "./backend";
import type { Backend, Book, BookSummary, Copy, Hold, HoldView, OutboxEntry, Patron, SaveMode, SyncEvent, SyncStatus } from "./backend";
import type { ActionOutcome, ContestLine, EscalationDetail, EscalationSummary, HistoryEntry, ImportPreview, ServerSettings, StaffEdits } from "./backend";

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
  signIns: { server: string; caCert?: string | null; username: string }[];
  /** What the sign-in screen is offered (the last sign-in's server and CA file). */
  settings: ServerSettings;
  /** What signing out tells the person (null: the server was told). */
  signOutNotice: string | null;
  patrons: Patron[];
  /** Every patron save asked for, in order, as the form sent it. */
  savedPatrons: { patron: Patron; mode: SaveMode }[];
  inbox: ConflictSummary[];
  merges: Map<number, (choices: Settled[]) => MergeView>;
  savedMerges: { seq: number; choices: Settled[]; record?: JsonValue | null }[];
  /** The choices each merge was last viewed with, as the cache keeps them. */
  keptChoices: Map<number, Settled[]>;
  holds: HoldView[];
  /** The loans the desk knows (on loan or returned), the ones made here pending. */
  loans: CachedRecord<Loan>[];
  /** Every scan asked for, in order. */
  scans: { barcode: string; patronId: string | null }[];
  /** Every hold shelf asked for, by branch (null: every branch). */
  shelfRequests: (string | null)[];
  /** Every hold move asked for, in order. */
  holdMoves: { id: string; status: HoldStatus; reason: CancelReason | null }[];
  /** Every patron whose activity was asked for, in order. */
  activityRequests: string[];
  /** The desk's clock (a check-out's due date is 21 days after it). */
  now: () => Date;
  /** The escalations the server knows, with their detail; the list is derived from them. */
  escalationDetails: EscalationDetail[];
  /** The manager actions asked for, in order. */
  escalationActions: { action: string; id: string; etag: string; args: (string | number)[] }[];
  /** When set, the next action answers this conflict (and the detail becomes its detail). */
  nextConflict: { message: string; detail: EscalationDetail } | null;
  /** Each record's history as the server would answer it, by `kind:id`. */
  histories: Map<string, HistoryEntry[]>;
  /** Each book's contest as the server would answer it, by book id. */
  contests: Map<string, ContestLine[]>;
  /** When set, asking for a history fails with this message (offline, say). */
  historyError: string | null;
  /** The histories asked for, as `kind:id`. */
  historyRequests: string[];
  /** What the file chooser answers (null: the person cancels). */
  chosenMarcFile: string | null;
  /** What each MARC file holds, by path, as the cache would sort it; a string is the error
   * reading it gives. */
  marcFiles: Map<string, ImportPreview | string>;
  /** The MARC files imported, in order. */
  marcImports: string[];
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

/** A loan as the cache keeps it: only what a test cares about given, the rest as on loan. */
export function loanOf(fields: Pick<Loan, "id" | "copy_id" | "patron_id"> & Partial<Loan>, pending = false): CachedRecord<Loan> {
  const record: Loan = { hold_id: null, loaned_at: null, due_at: null, returned_at: null, status: "on_loan", ...fields };
  return { record, etag: pending ? null : '"1"', pending, in_conflict: false };
}

const SUCCESSES: Outcome[] = ["patron_selected", "checked_out", "returned", "to_hold_shelf"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** A day as the desk's sentences say it ("22 Dec"), in UTC as the Rust side writes it. */
export function shortDate(d: Date): string {
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
}
/** The loan period the desk shows until the server's due date arrives. */
const LOAN_DAYS = 21;

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
    loans: [],
    scans: [],
    shelfRequests: [],
    holdMoves: [],
    activityRequests: [],
    now: () => new Date(),
    // As the cache decides (shelfmark_core::circulation): a card selects its patron; a copy
    // with a patron is checked out to them unless it is out or held for someone else; a copy
    // alone is checked in, or goes to the hold shelf when fetched for a hold.
    async scan(barcode, patronId) {
      fake.scans.push({ barcode, patronId });
      const code = barcode.trim();
      const answer = (outcome: Outcome, message: string, patron: Patron | null = null, copy: Copy | null = null, title: string | null = null): ScanResult => ({
        outcome,
        message,
        success: SUCCESSES.includes(outcome),
        patron,
        copy,
        title,
      });
      const card = code ? fake.patrons.find((p) => p.card === code) : undefined;
      if (card) return answer("patron_selected", `Checking out to ${card.name}: scan the copies.`, card);
      const copy = code ? fake.copies.find((c) => c.barcode === code) : undefined;
      if (!copy) return answer("unknown_barcode", `Unknown barcode “${code}”.`);
      const title = fake.books.find((b) => b.id === copy.book_id)?.title ?? null;
      const scanned = patronId === null ? null : patronOf(patronId);
      if (patronId !== null && !scanned) throw { message: `patron ${patronId} not found`, fields: [] };
      const loan = fake.loans.filter((l) => l.record.copy_id === copy.id && l.record.status === "on_loan").at(-1);
      const held = fake.holds.filter((h) => h.hold.record.copy_id === copy.id && isOpen(h.hold.record.status)).at(-1)?.hold.record;
      const loaner = loan ? patronOf(loan.record.patron_id) : null;
      const holder = held ? patronOf(held.patron_id) : null;
      const name = (p: Patron | null) => p?.name ?? "a patron not on this computer";
      if (!scanned) {
        if (loan) {
          replaceLoan({ ...loan.record, status: "returned" });
          return answer("returned", "Returned.", loaner, copy, title);
        }
        if (held?.status === "active") {
          replaceHold({ ...held, status: "ready" });
          return answer("to_hold_shelf", `Held for ${name(holder)}: put it on the hold shelf.`, holder, copy, title);
        }
        if (held) {
          const until = held.pickup_by ? ` until ${shortDate(new Date(held.pickup_by))}` : "";
          return answer("already_on_hold_shelf", `On the hold shelf for ${name(holder)}${until}.`, holder, copy, title);
        }
        if (copy.status === "missing") {
          return answer("missing", "This copy is marked missing: edit the copy to put it back on the shelf.", null, copy, title);
        }
        return answer("not_on_loan", "This copy is not on loan. To check it out, scan the patron's card first.", null, copy, title);
      }
      if (loan && loan.record.patron_id === scanned.id) {
        const due = loan.record.due_at ? `, due ${shortDate(new Date(loan.record.due_at))}` : "";
        return answer("already_on_loan_to_them", `Already checked out to ${scanned.name}${due}.`, scanned, copy, title);
      }
      if (loan) return answer("on_loan_to_someone_else", `This copy is on loan to ${name(loaner)}: check it in first.`, loaner, copy, title);
      if (held && held.patron_id !== scanned.id) return answer("held_for_someone_else", "This copy is held for someone else.", null, copy, title);
      if (!held && copy.status === "missing") return answer("missing", "This copy is marked missing: it cannot be checked out.", null, copy, title);
      // The server sets the loan's times; until it answers the loan has no due date.
      const made = loanOf({ id: `loan-${fake.loans.length}`, copy_id: copy.id, patron_id: scanned.id, hold_id: held?.id ?? null }, true);
      fake.loans = [...fake.loans, made];
      if (held) replaceHold({ ...held, status: "fulfilled", loan_id: made.record.id });
      const due = new Date(fake.now().getTime() + LOAN_DAYS * 24 * 3600 * 1000);
      return answer("checked_out", `Checked out to ${scanned.name}, due ${shortDate(due)}.`, scanned, copy, title);
    },
    // As the cache lists it: holds with their copy, at the hold's pickup branch (else the
    // patron's), active ones first, then oldest first.
    async holdShelf(branch) {
      fake.shelfRequests.push(branch);
      const at = (h: Hold) => (h.pickup_branch || patronOf(h.patron_id)?.branch) ?? null;
      const time = (h: Hold) => h.ready_at ?? h.placed_at ?? "";
      return fake.holds
        .map((h) => h.hold)
        .filter((h) => (h.record.status === "active" || h.record.status === "ready") && h.record.copy_id !== null)
        .filter((h) => branch === null || at(h.record)?.toLowerCase() === branch.toLowerCase())
        .sort(
          (a, b) =>
            Number(a.record.status !== "active") - Number(b.record.status !== "active") ||
            time(a.record).localeCompare(time(b.record)) ||
            a.record.id.localeCompare(b.record.id),
        )
        .map(shelfHold);
    },
    // As the cache moves a hold: active to ready, active or ready to collected or cancelled.
    async moveHold(id, status, reason) {
      fake.holdMoves.push({ id, status, reason });
      const hold = fake.holds.find((h) => h.hold.record.id === id)?.hold.record;
      if (!hold) throw { message: `hold ${id} not found`, fields: [] };
      const allowed = (hold.status === "active" && status === "ready") || (isOpen(hold.status) && (status === "fulfilled" || status === "cancelled"));
      if (!allowed) {
        const message = `a ${hold.status} hold cannot become ${status}`;
        throw { message: `status: ${message}`, fields: [{ field: "status", message }] };
      }
      const moved: Hold = { ...hold, status, cancel_reason: status === "cancelled" ? (reason ?? "staff") : hold.cancel_reason };
      replaceHold(moved);
      return fake.holds.find((h) => h.hold.record.id === id)!.hold;
    },
    async patronActivity(id) {
      fake.activityRequests.push(id);
      return {
        holds: fake.holds.filter((h) => h.hold.record.patron_id === id && isOpen(h.hold.record.status)).map((h) => shelfHold(h.hold)),
        loans: fake.loans
          .filter((l) => l.record.patron_id === id && l.record.status === "on_loan")
          .map((loan) => {
            const copy = fake.copies.find((c) => c.id === loan.record.copy_id) ?? null;
            return { loan, copy, title: (copy && fake.books.find((b) => b.id === copy.book_id)?.title) ?? null };
          }),
      };
    },
    signIns: [],
    settings: { server_url: null, ca_cert: null },
    signOutNotice: null,
    async serverAddress(address) {
      // The Rust rule (shelfmark_core::address), as far as these tests need it.
      const a = address.trim();
      if (!a) return null;
      const url = a.includes("://") ? a : `https://${a}`;
      const unencrypted = /^http:\/\//i.test(url) && !/^http:\/\/(localhost|127\.|\[::1\])/i.test(url);
      return { url, unencrypted };
    },
    async serverSettings() {
      return fake.settings;
    },
    async signIn(server, caCert, username, password) {
      fake.signIns.push(caCert ? { server, caCert, username } : { server, username });
      if (password !== "right") throw { message: "Wrong user name or password.", fields: [] };
      fake.emitStatus({ ...status, connection: "online", server, user: username });
      return { id: "u1", name: username, role: "librarian" };
    },
    async signOut() {
      fake.emitStatus({ ...status, connection: "signed_out", user: null });
      return fake.signOutNotice;
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
    contests: new Map(),
    async bookContest(id) {
      if (fake.historyError) throw { message: fake.historyError, fields: [] };
      return fake.contests.get(id) ?? [];
    },
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
    async about() {
      return { version: "0.1.0", log_folder: "/home/desk/.local/state/org.shelfmark.desktop" };
    },
    chosenMarcFile: null,
    marcFiles: new Map(),
    marcImports: [],
    async chooseMarcFile() {
      return fake.chosenMarcFile;
    },
    async previewMarcImport(path) {
      const file = fake.marcFiles.get(path);
      if (file === undefined) throw { message: `${path}: No such file or directory (os error 2)`, fields: [] };
      if (typeof file === "string") throw { message: file, fields: [] };
      return file;
    },
    async importMarc(path, onProgress) {
      const preview = await fake.previewMarcImport(path);
      preview.new.forEach((book, i) => {
        fake.books = [...fake.books, book];
        pending.add(book.id);
        onProgress({ queued: i + 1, total: preview.new.length });
      });
      fake.marcImports.push(path);
      return preview;
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
  function patronOf(id: string): Patron | null {
    return fake.patrons.find((p) => p.id === id) ?? null;
  }
  function isOpen(status: HoldStatus): boolean {
    return status === "active" || status === "ready";
  }
  function shelfHold(hold: CachedRecord<Hold>): ShelfHold {
    const r = hold.record;
    return {
      hold,
      patron: patronOf(r.patron_id),
      copy: fake.copies.find((c) => c.id === r.copy_id) ?? null,
      title: fake.books.find((b) => b.id === r.book_id)?.title ?? null,
    };
  }
  /** A hold changed here: queued, so pending until the next sync. */
  function replaceHold(record: Hold) {
    fake.holds = fake.holds.map((h) => (h.hold.record.id === record.id ? { ...h, hold: { ...h.hold, record, pending: true } } : h));
  }
  function replaceLoan(record: Loan) {
    fake.loans = fake.loans.map((l) => (l.record.id === record.id ? { ...l, record, pending: true } : l));
  }
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
