// The sync status as reactive state: read once, then kept current by the backend's events.
import { onDestroy, onMount } from "svelte";
import type { Backend, SyncEvent, SyncStatus } from "./backend";

/** How far a long pull has come, for the progress bar (null: none running). */
export interface Progress {
  done: number;
  of: number;
}

/** Where a pull stands after `event`, given where it stood before. */
export function progressAfter(before: Progress | null, event: SyncEvent, start: number): Progress | null {
  switch (event.kind) {
    case "page_pulled": {
      if (event.server_seq === null || event.server_seq <= start) return before;
      const of = event.server_seq - start;
      return { done: Math.min(of, event.last_seq - start), of };
    }
    case "finished":
    case "failed":
      return null;
    default:
      return before;
  }
}

export function syncState(backend: Backend): { readonly status: SyncStatus | null; readonly progress: Progress | null } {
  let status = $state<SyncStatus | null>(null);
  let progress = $state<Progress | null>(null);
  let start = 0;
  const stops: (() => void)[] = [];
  let destroyed = false;

  onMount(async () => {
    const stopEvents = await backend.onSyncEvent((e) => {
      if (e.kind === "started") start = status?.last_seq ?? 0;
      progress = progressAfter(progress, e, start);
    });
    const stop = await backend.onSyncStatus((s) => (status = s));
    stops.push(stopEvents, stop);
    if (destroyed) for (const f of stops) f();
    // Read after listening so no change between the two is missed.
    status = await backend.syncStatus();
  });
  onDestroy(() => {
    destroyed = true;
    for (const f of stops) f();
  });

  return {
    get status() {
      return status;
    },
    get progress() {
      return progress;
    },
  };
}
