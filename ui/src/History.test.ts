import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import App from "./App.svelte";
import History from "./lib/History.svelte";
import { book, copyOf, fakeBackend, onlineStatus } from "./lib/fake-backend";
import type { HistoryEntry, Patron } from "./lib/backend";
import { formatWhen } from "./lib/format";

afterEach(cleanup);

/** A book's history as the Rust core hands it over: newest first. */
const garden: HistoryEntry[] = [
  {
    version: 3,
    at: "2026-03-03T10:00:00.000Z",
    by: { id: "u-manager", name: "Mona Manager" },
    kind: "deleted",
    fields: [],
  },
  {
    version: 2,
    at: "2026-03-02T10:00:00.000Z",
    by: { id: "u-librarian", name: "Lena Librarian" },
    kind: "changed",
    fields: [
      {
        field: "title",
        before: "The Garden",
        after: "The Green Garden",
        words: [
          { tag: "same", text: "The " },
          { tag: "added", text: "Green " },
          { tag: "same", text: "Garden" },
        ],
      },
      {
        field: "call_number",
        before: "635 OLD",
        after: "635 NEW",
        words: [
          { tag: "same", text: "635 " },
          { tag: "removed", text: "OLD" },
          { tag: "added", text: "NEW" },
        ],
      },
    ],
  },
  {
    version: 1,
    at: "2026-03-01T10:00:00.000Z",
    by: { id: null, name: "demo" },
    kind: "created",
    fields: [{ field: "title", before: null, after: "The Garden", words: [{ tag: "added", text: "The Garden" }] }],
  },
];

function showHistory(entries: HistoryEntry[] | null, error: string | null = null) {
  const backend = fakeBackend([], onlineStatus);
  if (entries) backend.histories.set("book:b1", entries);
  backend.historyError = error;
  let closed = 0;
  render(History, { backend, kind: "book", id: "b1", label: "“The Garden”", onClose: () => (closed += 1) });
  return { backend, closed: () => closed };
}

describe("a record's history", () => {
  it("lists the revisions newest first, each with who made it and when", async () => {
    const { backend } = showHistory(garden);
    const entries = await screen.findAllByTestId("history-entry");
    expect(backend.historyRequests).toEqual(["book:b1"]);
    expect(entries.map((e) => e.getAttribute("data-version"))).toEqual(["3", "2", "1"]);
    expect(entries.map((e) => within(e).getByTestId("history-by").textContent)).toEqual(["Mona Manager", "Lena Librarian", "demo"]);
    expect(entries[1].querySelector("time")?.getAttribute("datetime")).toBe("2026-03-02T10:00:00.000Z");
    expect(entries[1].querySelector("time")?.textContent).toBe(formatWhen("2026-03-02T10:00:00.000Z"));
    expect(screen.getByRole("heading").textContent).toBe("History of “The Garden”");
  });

  it("marks the words a change removed and added, field by field", async () => {
    showHistory(garden);
    const changed = (await screen.findAllByTestId("history-entry"))[1];
    expect(within(changed).getByTestId("history-what").textContent).toBe("Changed");
    const fields = within(changed).getAllByTestId("history-field");
    expect(fields.map((f) => f.getAttribute("data-field"))).toEqual(["title", "call_number"]);
    expect(changed.textContent).toContain("Call number");
    const [title, callNumber] = fields;
    expect(title.textContent).toBe("The Green Garden");
    expect([...title.querySelectorAll("ins")].map((e) => e.textContent)).toEqual(["Green "]);
    expect(title.querySelector("del")).toBeNull();
    expect([...callNumber.querySelectorAll("del")].map((e) => e.textContent)).toEqual(["OLD"]);
    expect([...callNumber.querySelectorAll("ins")].map((e) => e.textContent)).toEqual(["NEW"]);
  });

  it("says Created with the first revision's fields as they are, and Deleted for a deletion", async () => {
    showHistory(garden);
    const [deleted, , created] = await screen.findAllByTestId("history-entry");
    expect(within(deleted).getByTestId("history-what").textContent).toBe("Deleted");
    expect(within(deleted).queryAllByTestId("history-field")).toHaveLength(0);
    expect(within(created).getByTestId("history-what").textContent).toBe("Created");
    const field = within(created).getByTestId("history-field");
    expect(field.getAttribute("data-field")).toBe("title");
    expect(field.textContent).toBe("The Garden");
    expect(field.querySelector("ins, del")).toBeNull();
  });

  it("says plainly that history needs the server when it cannot be reached", async () => {
    showHistory(null, "History needs a connection to the server.");
    expect((await screen.findByTestId("history-error")).textContent).toBe("History needs a connection to the server.");
    expect(screen.queryByTestId("history-entry")).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says a record the server has not received has no history yet, and closes", async () => {
    const { closed } = showHistory([]);
    expect((await screen.findByTestId("history-empty")).textContent).toContain("has not reached the server");
    await fireEvent.click(screen.getByTestId("history-close"));
    expect(closed()).toBe(1);
  });
});

describe("history from the book view", () => {
  it("opens the history of the book, of each copy and of each hold", async () => {
    const b = book("The Garden", ["Ann Author"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "31234")]);
    const ada: Patron = { id: "p-ada", name: "Ada Lovelace", email: "ada@example.org", premium: false, branch: "Central", card: "", notes: "" };
    backend.patrons = [ada];
    await backend.placeHold(ada.id, b.id);
    backend.histories.set(`book:${b.id}`, garden);
    render(App, { backend });
    await fireEvent.click(await screen.findByText("The Garden"));
    const view = await screen.findByTestId("book-view");

    await fireEvent.click(within(view).getByTestId("book-history"));
    let dialog = await screen.findByTestId("history-dialog");
    expect(within(dialog).getByRole("heading").textContent).toBe("History of “The Garden”");
    expect(await within(dialog).findAllByTestId("history-entry")).toHaveLength(3);
    await fireEvent.click(within(dialog).getByTestId("history-close"));
    expect(screen.queryByTestId("history-dialog")).toBeNull();

    await fireEvent.click(within(await within(view).findByTestId("copy-row")).getByTestId("copy-history"));
    dialog = await screen.findByTestId("history-dialog");
    expect(within(dialog).getByRole("heading").textContent).toBe("History of copy 31234");
    await fireEvent.click(within(dialog).getByTestId("history-close"));

    await fireEvent.click(within(await within(view).findByTestId("hold-row")).getByTestId("hold-history"));
    dialog = await screen.findByTestId("history-dialog");
    expect(within(dialog).getByRole("heading").textContent).toBe("History of the hold of Ada Lovelace");
    expect(backend.historyRequests).toEqual([`book:${b.id}`, "copy:copy-31234", "hold:hold-0"]);
  });
});
