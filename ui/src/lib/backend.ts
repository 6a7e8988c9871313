// The one seam between the UI and the Rust side. Components receive a `Backend`; the app
// passes the Tauri implementation, UI tests pass a fake.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

/** A book as the catalogue list shows it (shelfmark_store::BookSummary). */
export interface BookSummary {
  id: string;
  title: string;
  authors: string[];
  year: number | null;
  isbn: string;
  copies_total: number;
  copies_available: number;
}

export type Connection = "not_configured" | "connecting" | "online" | "offline";

/** The status bar's facts (src-tauri's sync::SyncStatus). */
export interface SyncStatus {
  connection: Connection;
  server: string | null;
  user: string | null;
  syncing: boolean;
  last_sync: string | null;
  last_error: string | null;
  last_seq: number;
  pending_edits: number;
  failed_edits: number;
  conflicts: number;
}

export interface Backend {
  listBooks(query: string, limit?: number): Promise<BookSummary[]>;
  syncStatus(): Promise<SyncStatus>;
  syncNow(): Promise<void>;
  /** Calls `handler` on every status change until the returned function is called. */
  onSyncStatus(handler: (status: SyncStatus) => void): Promise<UnlistenFn>;
}

export const tauriBackend: Backend = {
  listBooks: (query, limit) => invoke<BookSummary[]>("list_books", { query, limit }),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  syncNow: () => invoke<void>("sync_now"),
  onSyncStatus: (handler) => listen<SyncStatus>("sync-status", (e) => handler(e.payload)),
};
