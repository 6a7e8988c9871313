// The sync status as reactive state: read once, then kept current by the backend's events.
import { onDestroy, onMount } from "svelte";
import type { Backend, SyncStatus } from "./backend";

export function syncState(backend: Backend): { readonly status: SyncStatus | null } {
  let status = $state<SyncStatus | null>(null);
  let unlisten: (() => void) | undefined;
  let destroyed = false;

  onMount(async () => {
    const stop = await backend.onSyncStatus((s) => (status = s));
    if (destroyed) stop();
    else unlisten = stop;
    // Read after listening so no change between the two is missed.
    status = await backend.syncStatus();
  });
  onDestroy(() => {
    destroyed = true;
    unlisten?.();
  });

  return {
    get status() {
      return status;
    },
  };
}
