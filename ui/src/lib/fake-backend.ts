// An in-memory Backend for UI tests: the same interface the Tauri implementation fills.
import type { Backend, BookSummary, SyncStatus } from "./backend";

export interface FakeBackend extends Backend {
  queries: string[];
  syncRequests: number;
  emitStatus(status: SyncStatus): void;
}

export function fakeBackend(books: BookSummary[], status: SyncStatus): FakeBackend {
  const listeners = new Set<(s: SyncStatus) => void>();
  const fake: FakeBackend = {
    queries: [],
    syncRequests: 0,
    async listBooks(query) {
      fake.queries.push(query);
      const q = query.trim().toLowerCase();
      return books.filter(
        (b) => !q || b.title.toLowerCase().includes(q) || b.authors.some((a) => a.toLowerCase().includes(q)),
      );
    },
    async syncStatus() {
      return status;
    },
    async syncNow() {
      fake.syncRequests += 1;
    },
    async onSyncStatus(handler) {
      listeners.add(handler);
      return () => listeners.delete(handler);
    },
    emitStatus(s) {
      status = s;
      for (const l of listeners) l(s);
    },
  };
  return fake;
}

export function book(title: string, authors: string[], available = 1, total = 2): BookSummary {
  return {
    id: `id-${title}`,
    title,
    authors,
    year: 2001,
    isbn: "9780306406157",
    copies_available: available,
    copies_total: total,
  };
}

export const onlineStatus: SyncStatus = {
  connection: "online",
  server: "http://127.0.0.1:8080",
  user: "librarian",
  syncing: false,
  last_sync: "2026-11-22T10:00:00Z",
  last_error: null,
  last_seq: 42,
  pending_edits: 0,
  failed_edits: 0,
  conflicts: 0,
};
