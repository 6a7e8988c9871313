import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { fakeBackend, onlineStatus } from "./lib/fake-backend";
import type { ConflictSummary, ConflictView, MergeView, Settled } from "./lib/backend";

afterEach(() => {
  cleanup();
});

const summary: ConflictSummary = {
  seq: 9,
  kind: "book",
  record_id: "b1",
  label: "The Quiet Harbour",
  reason: "edit-conflict",
  detail: null,
  existing_id: null,
  created_at: "2026-11-22T10:00:00Z",
};

const titleConflict: ConflictView = {
  key: { field: "title", slot: 0 },
  location: "field",
  lines: null,
  base: "Quiet Harbour",
  mine: "The Quiet Harbour",
  theirs: "Quiet Harbor",
  mine_words: [{ tag: "added", text: "The " }, { tag: "same", text: "Quiet Harbour" }],
  theirs_words: [{ tag: "same", text: "Quiet " }, { tag: "added", text: "Harbor" }],
  can_combine: false,
};

const summaryConflict: ConflictView = {
  key: { field: "summary", slot: 1 },
  location: "hunk",
  lines: [[1, 2], [1, 2], [1, 2]],
  base: "two\n",
  mine: "two mine\n",
  theirs: "two theirs\n",
  mine_words: [],
  theirs_words: [],
  can_combine: true,
};

/** A merge of two conflicts, as the Rust side would compute it from `choices`. */
function merge(choices: Settled[], all: ConflictView[] = [titleConflict, summaryConflict]): MergeView {
  const known = (s: Settled) => all.some((c) => c.key.field === s.key.field && c.key.slot === s.key.slot);
  const applied = choices.filter(known);
  const open = all.filter((c) => !applied.some((s) => s.key.field === c.key.field && s.key.slot === c.key.slot));
  return {
    summary,
    mine: { title: "The Quiet Harbour" },
    fields: [
      { field: "title", base: "", mine: "", theirs: "", merged: "", status: open.includes(titleConflict) ? "conflict" : "mine", mine_words: [], theirs_words: [] },
      { field: "year", base: 2000, mine: 2001, theirs: 2000, merged: 2001, status: "mine", mine_words: [], theirs_words: [] },
      { field: "summary", base: "", mine: "", theirs: "", merged: "", status: open.includes(summaryConflict) ? "conflict" : "both", mine_words: [], theirs_words: [] },
    ],
    conflicts: open,
    dropped: choices.filter((c) => !known(c)),
    applied,
    resolved: open.length === 0,
  };
}

async function openMerge(backend: ReturnType<typeof fakeBackend>) {
  render(App, { backend });
  await fireEvent.click(await screen.findByTestId("nav-conflicts"));
  await fireEvent.click(await screen.findByText("The Quiet Harbour"));
  return screen.findByTestId("merge-screen");
}

describe("the merge screen", () => {
  it("starts from the choices the cache kept, as after a restart of the app", async () => {
    const backend = fakeBackend([], { ...onlineStatus, conflicts: 1 });
    backend.inbox = [summary];
    backend.merges.set(9, (c) => merge(c));
    backend.keptChoices.set(9, [{ key: titleConflict.key, choice: { kind: "mine" } }]);
    const screenEl = await openMerge(backend);
    await waitFor(() => expect(within(screenEl).getByTestId("merge-counter").textContent).toBe("1 of 2 conflicts left"));
    expect(within(screenEl).getAllByTestId("merge-field")[0].textContent).toContain("from mine");
  });

  it("says a new copy's barcode is taken on the server, in words, and offers to open the record that has it", async () => {
    const backend = fakeBackend([], { ...onlineStatus, conflicts: 1 });
    const copySummary: ConflictSummary = {
      ...summary,
      kind: "copy",
      label: "copy 3100 of “The Quiet Harbour”",
      reason: "duplicate",
      detail: "barcode 3100 is taken",
      existing_id: "0190c5a2-1b2c-7d3e-8f40-123456789abc",
    };
    backend.inbox = [copySummary];
    backend.merges.set(9, () => ({ ...merge([], []), summary: copySummary, mine: { barcode: "3100" } }));
    render(App, { backend });
    await fireEvent.click(await screen.findByTestId("nav-conflicts"));
    await fireEvent.click(await screen.findByText("Copy 3100 of “The Quiet Harbour”"));
    const screenEl = await screen.findByTestId("merge-screen");
    expect(within(screenEl).getByTestId("merge-headline").textContent).toBe("its barcode is already taken on the server");
    expect(screenEl.textContent).not.toContain("changed here and on the server");
    expect(within(screenEl).getByTestId("merge-duplicate").textContent).toBe("Another record already has this barcode. barcode 3100 is taken");
    expect(within(screenEl).getByText("Open the existing record")).toBeTruthy();
  });

  it("counts, settles, undoes and redoes conflicts, and saves only when none is left", async () => {
    const backend = fakeBackend([], { ...onlineStatus, conflicts: 1 });
    backend.inbox = [summary];
    backend.merges.set(9, (c) => merge(c));
    const screenEl = await openMerge(backend);
    const counter = () => within(screenEl).getByTestId("merge-counter").textContent;
    await waitFor(() => expect(counter()).toBe("2 of 2 conflicts left"));
    expect((within(screenEl).getByTestId("merge-save") as HTMLButtonElement).disabled).toBe(true);
    expect(within(screenEl).getAllByTestId("merge-field")[0].textContent).toContain("from mine");

    await fireEvent.click(within(screenEl).getAllByTestId("take-mine")[0]);
    await waitFor(() => expect(counter()).toBe("1 of 2 conflicts left"));
    await fireEvent.click(within(screenEl).getByTestId("merge-undo"));
    await waitFor(() => expect(counter()).toBe("2 of 2 conflicts left"));
    await fireEvent.click(within(screenEl).getByTestId("merge-redo"));
    await waitFor(() => expect(counter()).toBe("1 of 2 conflicts left"));

    // The keyboard settles the focused conflict: 3 keeps both, mine first.
    await fireEvent.keyDown(window, { key: "3" });
    await waitFor(() => expect(counter()).toBe("No conflict left"));
    await fireEvent.click(within(screenEl).getByTestId("merge-save"));
    await waitFor(() => expect(backend.savedMerges).toHaveLength(1));
    expect(backend.savedMerges[0].choices).toEqual([
      { key: { field: "title", slot: 0 }, choice: { kind: "mine" } },
      { key: { field: "summary", slot: 1 }, choice: { kind: "mine_then_theirs" } },
    ]);
    expect(await screen.findByTestId("conflicts-empty")).toBeTruthy();
  });

  it("highlights the words each side changed", async () => {
    const backend = fakeBackend([], onlineStatus);
    backend.inbox = [summary];
    backend.merges.set(9, (c) => merge(c));
    const el = await openMerge(backend);
    const marks = await within(el).findAllByText((_, node) => node?.tagName === "MARK");
    expect(marks.map((m) => m.textContent)).toEqual(["The ", "Harbor"]);
  });

  it("takes a hand-edited value", async () => {
    const backend = fakeBackend([], onlineStatus);
    backend.inbox = [summary];
    backend.merges.set(9, (c) => merge(c));
    const el = await openMerge(backend);
    await fireEvent.click((await within(el).findAllByTestId("take-edit"))[0]);
    await fireEvent.input(within(el).getByTestId("merge-edit-text"), { target: { value: "Quiet Harbour, The" } });
    await fireEvent.click(within(el).getByTestId("merge-edit-done"));
    await fireEvent.click(within(el).getByTestId("merge-all-mine"));
    await fireEvent.click(within(el).getByTestId("merge-save"));
    await waitFor(() => expect(backend.savedMerges).toHaveLength(1));
    expect(backend.savedMerges[0].choices[0]).toEqual({
      key: { field: "title", slot: 0 },
      choice: { kind: "edited", value: "Quiet Harbour, The" },
    });
  });

  it("keeps the choices that still apply when the server moved again, and says so", async () => {
    const backend = fakeBackend([], onlineStatus);
    backend.inbox = [summary];
    let moved = false;
    backend.merges.set(9, (c) => merge(c, moved ? [summaryConflict] : [titleConflict, summaryConflict]));
    const el = await openMerge(backend);
    await fireEvent.click((await within(el).findAllByTestId("take-theirs"))[0]);
    moved = true;
    await fireEvent.click(within(el).getAllByTestId("take-mine")[0]);
    expect((await within(el).findByTestId("merge-notice")).textContent).toContain("no longer did");
  });

  it("offers to recreate or discard a record deleted on the server", async () => {
    const backend = fakeBackend([], onlineStatus);
    const deleted: ConflictSummary = { ...summary, reason: "deleted" };
    backend.inbox = [deleted];
    backend.merges.set(9, () => ({ ...merge([]), summary: deleted, fields: [], conflicts: [] }));
    const el = await openMerge(backend);
    expect((await within(el).findByTestId("merge-deleted")).textContent).toContain("deleted on the server");
    await fireEvent.click(within(el).getByText("Recreate it with my version"));
    await waitFor(() => expect(backend.savedMerges).toEqual([{ seq: 9, choices: [], record: null }]));
  });
});
