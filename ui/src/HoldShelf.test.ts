import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, copyOf, fakeBackend, holdOf, onlineStatus, type FakeBackend } from "./lib/fake-backend";
import { formatDay } from "./lib/format";
import type { Copy, Hold, Patron } from "./lib/backend";

beforeEach(() => localStorage.clear());
afterEach(cleanup);

function patron(id: string, name: string, branch: string): Patron {
  return { id, name, email: `${id}@example.org`, premium: false, branch, card: `card-${id}`, notes: "" };
}

const ada = patron("ada", "Ada Lovelace", "Central");
const bram = patron("bram", "Bram Carrow", "North");
const longWay = book("The Long Way", ["Becky Chambers"]);
const harbour = book("The Quiet Harbour", ["Mira Solberg"]);
const copies: Copy[] = [
  { ...copyOf(longWay, "3100"), call_number: "SF CHA" },
  { ...copyOf(harbour, "3200", "available", "North"), call_number: "F SOL" },
  copyOf(longWay, "3300"),
  copyOf(harbour, "3400", "available", "North"),
];

const DAY = 24 * 3600 * 1000;
/** Noon today (so "today" whatever the hour the tests run), and days from it. */
function noon(days = 0): string {
  const d = new Date();
  d.setHours(12, 0, 0, 0);
  return new Date(d.getTime() + days * DAY).toISOString();
}

/** A hold as the cache has it, on the server unless `pending`. */
function held(fields: Pick<Hold, "id" | "patron_id" | "book_id"> & Partial<Hold>, pending = false) {
  const record = holdOf(fields);
  return { hold: { record, etag: pending ? null : '"1"', pending, in_conflict: false }, patron: null, copy: null, lost: null };
}

/** Two copies to fetch (Ada's at Central, Bram's at North) and one waiting at each branch. */
function shelf(b: FakeBackend) {
  b.holds = [
    held({ id: "fetch-bram", patron_id: "bram", book_id: harbour.id, copy_id: "copy-3200", placed_at: "2026-11-25T09:00:00Z" }),
    held({ id: "fetch-ada", patron_id: "ada", book_id: longWay.id, copy_id: "copy-3100", pickup_branch: "Central", placed_at: "2026-11-20T09:00:00Z" }),
    held({ id: "ready-ada", patron_id: "ada", book_id: longWay.id, copy_id: "copy-3300", status: "ready", placed_at: "2026-11-10T09:00:00Z", ready_at: "2026-11-21T09:00:00Z", pickup_by: noon(5) }),
    held({ id: "ready-bram", patron_id: "bram", book_id: harbour.id, copy_id: "copy-3400", status: "ready", placed_at: "2026-11-09T09:00:00Z", ready_at: "2026-11-18T09:00:00Z", pickup_by: noon(-2) }),
    // Not on a shelf: no copy yet, or done with.
    held({ id: "no-copy", patron_id: "ada", book_id: harbour.id }, true),
    held({ id: "collected", patron_id: "bram", book_id: longWay.id, copy_id: "copy-3100", status: "fulfilled" }),
  ];
}

async function openShelf(setUp: (b: FakeBackend) => void = shelf): Promise<FakeBackend> {
  const backend = fakeBackend([longWay, harbour], onlineStatus, copies);
  backend.patrons = [ada, bram];
  backend.branches = async () => ["Central", "North"];
  setUp(backend);
  render(App, { backend });
  await screen.findByText("Signed in as librarian");
  await fireEvent.click(screen.getByTestId("nav-holdshelf"));
  await screen.findByTestId("shelf-branch");
  return backend;
}

/** The rows shown, once there are `count`, as [status, id]. */
async function rowsShown(count: number): Promise<string[][]> {
  await waitFor(() => expect(screen.queryAllByTestId("shelf-row")).toHaveLength(count));
  return screen.getAllByTestId("shelf-row").map((r) => [r.getAttribute("data-status") ?? "", r.getAttribute("data-id") ?? ""]);
}

function row(id: string): HTMLElement {
  return screen.getAllByTestId("shelf-row").find((r) => r.getAttribute("data-id") === id)!;
}

function cells(r: HTMLElement): string[] {
  return Array.from(r.querySelectorAll("td")).map((td) => td.textContent?.replace(/\s+/g, " ").trim() ?? "");
}

describe("the Hold shelf tab", () => {
  it("sits after Circulation in the navigation", async () => {
    await openShelf();
    const tabs = Array.from(document.querySelectorAll("header.top nav button")).map((b) => b.getAttribute("data-testid"));
    expect(tabs.indexOf("nav-holdshelf")).toBe(tabs.indexOf("nav-circulation") + 1);
    expect(screen.getByTestId("nav-holdshelf").textContent?.trim()).toBe("Hold shelf");
  });

  it("lists the copies to fetch, then the holds waiting for pickup, each oldest first, and nothing else", async () => {
    await openShelf();
    expect(await rowsShown(4)).toEqual([
      ["active", "fetch-ada"],
      ["active", "fetch-bram"],
      ["ready", "ready-bram"],
      ["ready", "ready-ada"],
    ]);
    const fetch = screen.getByTestId("shelf-fetch");
    const waiting = screen.getByTestId("shelf-waiting");
    expect(within(fetch).getAllByTestId("shelf-row").map((r) => r.getAttribute("data-id"))).toEqual(["fetch-ada", "fetch-bram"]);
    expect(within(waiting).getAllByTestId("shelf-row").map((r) => r.getAttribute("data-id"))).toEqual(["ready-bram", "ready-ada"]);
  });

  it("shows the patron, title, copy barcode and call number, branch and date of each row", async () => {
    await openShelf();
    await rowsShown(4);
    expect(cells(row("fetch-ada")).slice(0, 5)).toEqual([
      "Ada Lovelace",
      "The Long Way",
      "3100 SF CHA",
      "Central",
      formatDay("2026-11-20T09:00:00Z"),
    ]);
    expect(cells(row("ready-ada")).slice(0, 6)).toEqual([
      "Ada Lovelace",
      "The Long Way",
      "3300",
      "Central",
      formatDay("2026-11-21T09:00:00Z"),
      `until ${formatDay(noon(5))}`,
    ]);
  });

  it("says until when a hold waits, and flags the one whose last day is today or past", async () => {
    await openShelf((b) => {
      shelf(b);
      b.holds.push(held({ id: "ready-today", patron_id: "ada", book_id: harbour.id, copy_id: "copy-3200", status: "ready", ready_at: "2026-11-25T09:00:00Z", pickup_by: noon(0) }));
    });
    await rowsShown(5);
    const until = (id: string) => within(row(id)).getByTestId("shelf-until");
    expect(until("ready-ada").textContent?.trim()).toBe(`until ${formatDay(noon(5))}`);
    expect(within(until("ready-ada")).queryByTestId("shelf-expiry")).toBeNull();
    expect(within(until("ready-today")).getByTestId("shelf-expiry").textContent).toBe("expires today");
    expect(within(until("ready-bram")).getByTestId("shelf-expiry").textContent).toBe("overdue");
    expect(until("ready-bram").textContent?.replace(/\s+/g, " ").trim()).toBe(`until ${formatDay(noon(-2))} overdue`);
  });

  it("offers Ready for pickup only to a hold being fetched, and Collected and Cancel to both", async () => {
    await openShelf();
    await rowsShown(4);
    const buttons = (id: string) => Array.from(row(id).querySelectorAll("button")).map((b) => b.textContent?.trim());
    expect(buttons("fetch-ada")).toEqual(["Ready for pickup", "Collected", "Cancel…"]);
    expect(buttons("ready-ada")).toEqual(["Collected", "Cancel…"]);
  });

  it("moves a fetched hold to ready with Ready for pickup, and shows it waiting, waiting to sync", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    await fireEvent.click(within(row("fetch-ada")).getByTestId("shelf-ready"));
    await waitFor(() => expect(within(screen.getByTestId("shelf-waiting")).queryAllByTestId("shelf-row")).toHaveLength(3));
    expect(backend.holdMoves).toEqual([{ id: "fetch-ada", status: "ready", reason: null }]);
    expect(row("fetch-ada").getAttribute("data-status")).toBe("ready");
    expect(within(row("fetch-ada")).getByTestId("shelf-pending").textContent).toBe("waiting to sync");
  });

  it("marks a waiting hold, or one being fetched, collected", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    await fireEvent.click(within(row("ready-ada")).getByTestId("shelf-collected"));
    await rowsShown(3);
    await fireEvent.click(within(row("fetch-bram")).getByTestId("shelf-collected"));
    await rowsShown(2);
    expect(backend.holdMoves).toEqual([
      { id: "ready-ada", status: "fulfilled", reason: null },
      { id: "fetch-bram", status: "fulfilled", reason: null },
    ]);
  });

  it("asks why before cancelling: the patron no longer wants it, or staff", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    await fireEvent.click(within(row("ready-bram")).getByTestId("shelf-cancel"));
    let dialog = await screen.findByTestId("cancel-hold-dialog");
    expect(dialog.textContent).toContain("Cancel the hold of Bram Carrow on “The Quiet Harbour”?");
    expect((within(dialog).getByTestId("confirm-yes") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(within(dialog).getByLabelText("Patron no longer wants it"));
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    await rowsShown(3);
    expect(screen.queryByTestId("cancel-hold-dialog")).toBeNull();

    await fireEvent.click(within(row("fetch-ada")).getByTestId("shelf-cancel"));
    dialog = await screen.findByTestId("cancel-hold-dialog");
    await fireEvent.click(within(dialog).getByLabelText("Staff"));
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    await rowsShown(2);
    expect(backend.holdMoves).toEqual([
      { id: "ready-bram", status: "cancelled", reason: "patron" },
      { id: "fetch-ada", status: "cancelled", reason: "staff" },
    ]);
    expect(backend.holds.find((h) => h.hold.record.id === "ready-bram")?.hold.record.cancel_reason).toBe("patron");
  });

  it("keeps the hold when the librarian changes their mind", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    await fireEvent.click(within(row("fetch-ada")).getByTestId("shelf-cancel"));
    const dialog = await screen.findByTestId("cancel-hold-dialog");
    await fireEvent.click(within(dialog).getByLabelText("Staff"));
    await fireEvent.click(within(dialog).getByTestId("confirm-no"));
    expect(screen.queryByTestId("cancel-hold-dialog")).toBeNull();
    expect(backend.holdMoves).toEqual([]);
    expect(await rowsShown(4)).toHaveLength(4);
  });

  it("shows why a move was refused", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    backend.moveHold = async () => {
      throw { message: "status: a fulfilled hold cannot become ready", fields: [] };
    };
    await fireEvent.click(within(row("fetch-ada")).getByTestId("shelf-ready"));
    expect((await screen.findByRole("alert")).textContent).toBe("status: a fulfilled hold cannot become ready");
  });

  it("says waiting to sync on a hold whose change is not on the server yet, and not on the others", async () => {
    await openShelf((b) => {
      b.holds = [
        held({ id: "mine", patron_id: "ada", book_id: longWay.id, copy_id: "copy-3100", placed_at: "2026-11-20T09:00:00Z" }, true),
        held({ id: "synced", patron_id: "bram", book_id: harbour.id, copy_id: "copy-3200", placed_at: "2026-11-21T09:00:00Z" }),
      ];
    });
    await rowsShown(2);
    expect(within(row("mine")).getByTestId("shelf-pending").textContent).toBe("waiting to sync");
    expect(within(row("synced")).queryByTestId("shelf-pending")).toBeNull();
  });

  it("says plainly when there is nothing to fetch and nothing waiting", async () => {
    await openShelf((b) => (b.holds = []));
    expect((await screen.findByTestId("shelf-fetch-empty")).textContent).toBe("Nothing to fetch.");
    expect(screen.getByTestId("shelf-waiting-empty").textContent).toBe("Nothing is waiting for pickup.");
    expect(screen.queryAllByTestId("shelf-row")).toHaveLength(0);
  });

  it("shows one branch's shelf when one is chosen, passing it to the shelf, and every branch's with All branches", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    expect(backend.shelfRequests).toEqual([null]);
    const select = screen.getByTestId("shelf-branch") as HTMLSelectElement;
    await waitFor(() => expect(Array.from(select.options).map((o) => o.textContent)).toEqual(["All branches", "Central", "North"]));
    await fireEvent.change(select, { target: { value: "North" } });
    expect(await rowsShown(2)).toEqual([
      ["active", "fetch-bram"],
      ["ready", "ready-bram"],
    ]);
    expect(backend.shelfRequests.at(-1)).toBe("North");
    await fireEvent.change(select, { target: { value: "" } });
    await rowsShown(4);
    expect(backend.shelfRequests.at(-1)).toBe(null);
  });

  it("remembers the branch chosen for the next time the shelf opens", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    await fireEvent.change(screen.getByTestId("shelf-branch"), { target: { value: "Central" } });
    await rowsShown(2);
    expect(localStorage.getItem("shelfmark.holdShelf.branch")).toBe("Central");
    cleanup();

    const again = await openShelf();
    expect(await rowsShown(2)).toEqual([
      ["active", "fetch-ada"],
      ["ready", "ready-ada"],
    ]);
    expect(again.shelfRequests).toEqual(["Central"]);
    expect((screen.getByTestId("shelf-branch") as HTMLSelectElement).value).toBe("Central");
    expect(backend).not.toBe(again);
  });

  it("reads the shelf again when a sync brings changes", async () => {
    const backend = await openShelf();
    await rowsShown(4);
    backend.holds.push(held({ id: "new", patron_id: "bram", book_id: longWay.id, copy_id: "copy-3300", placed_at: "2026-11-26T09:00:00Z" }));
    backend.emitStatus({ ...onlineStatus, last_seq: onlineStatus.last_seq + 1 });
    expect((await rowsShown(5)).map(([, id]) => id)).toContain("new");
  });
});
