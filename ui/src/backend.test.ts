// The Tauri backend against a mocked IPC: the commands go out by their Rust names with the
// arguments Tauri expects, and the sync steps arrive over the channel handed to `watch_sync`.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Channel } from "@tauri-apps/api/core";
import { tauriBackend, type SyncEvent } from "./lib/backend";

afterEach(clearMocks);

/** Delivers `message` as the `index`-th message of `channel`, as the Rust side sends it. */
function deliver(channel: Channel<SyncEvent>, index: number, message: SyncEvent) {
  const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, data: unknown): void } })
    .__TAURI_INTERNALS__;
  internals.runCallback(channel.id, { index, message });
}

describe("the Tauri backend", () => {
  it("calls each command by its Rust name with Tauri's camelCase arguments", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    await tauriBackend.placeHold("p1", "b1");
    await tauriBackend.branches();
    expect(calls[0]).toEqual(["place_hold", { patronId: "p1", bookId: "b1" }]);
    expect(calls.map(([cmd]) => cmd)).toEqual(["place_hold", "branches"]);
  });

  it("sends a patron save as save_patron with the patron and the mode", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const patron = { id: "p1", name: "Ada", email: "ada@example.org", premium: false, branch: "Central", card: "29000001", notes: "" };
    await tauriBackend.savePatron(patron, "edit");
    expect(calls).toEqual([["save_patron", { patron, mode: "edit" }]]);
  });

  it("sends the circulation desk's commands by their Rust names with camelCase arguments", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    await tauriBackend.scan("3100", "p1");
    await tauriBackend.scan("3100", null);
    await tauriBackend.holdShelf("North");
    await tauriBackend.holdShelf(null);
    await tauriBackend.moveHold("h1", "cancelled", "patron");
    await tauriBackend.patronActivity("p1");
    expect(calls).toEqual([
      ["scan", { barcode: "3100", patronId: "p1" }],
      ["scan", { barcode: "3100", patronId: null }],
      ["hold_shelf", { branch: "North" }],
      ["hold_shelf", { branch: null }],
      ["move_hold", { id: "h1", status: "cancelled", reason: "patron" }],
      ["patron_activity", { id: "p1" }],
    ]);
  });

  it("hears each sync step over the channel it gave watch_sync, until stopped", async () => {
    let channel: Channel<SyncEvent> | null = null;
    mockIPC((cmd, args) => {
      if (cmd === "watch_sync") channel = (args as { onEvent: Channel<SyncEvent> }).onEvent;
      return null;
    });
    const heard: SyncEvent[] = [];
    const stop = await tauriBackend.onSyncEvent((e) => heard.push(e));
    expect(channel).not.toBeNull();
    deliver(channel!, 0, { kind: "started" });
    expect(heard).toEqual([{ kind: "started" }]);
    stop();
    deliver(channel!, 1, { kind: "started" });
    expect(heard).toHaveLength(1);
  });
});
