import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, copyOf, fakeBackend, holdOf, loanOf, onlineStatus, type FakeBackend } from "./lib/fake-backend";
import type { Patron, ScanResult } from "./lib/backend";

afterEach(cleanup);

function patron(id: string, name: string, card: string): Patron {
  return { id, name, email: `${id}@example.org`, premium: false, branch: "Central", card, notes: "" };
}

const ada = patron("ada", "Ada Lovelace", "29000001");
const bram = patron("bram", "Bram Carrow", "29000002");
const longWay = book("The Long Way", ["Becky Chambers"]);
const copy = copyOf(longWay, "3100");

/** The app on the Circulation tab, with Ada and Bram, copy 3100 of “The Long Way”, and the
 * desk's clock on 1 Dec 2026 (a check-out is due on 22 Dec). */
async function openDesk(setUp: (b: FakeBackend) => void = () => {}): Promise<FakeBackend> {
  const backend = fakeBackend([longWay], onlineStatus, [copy]);
  backend.patrons = [ada, bram];
  backend.now = () => new Date("2026-12-01T10:00:00Z");
  setUp(backend);
  render(App, { backend });
  await screen.findByText("Signed in as librarian");
  await fireEvent.click(screen.getByTestId("nav-circulation"));
  await screen.findByTestId("scan-input");
  return backend;
}

const input = () => screen.getByTestId("scan-input") as HTMLInputElement;

/** Types `code` in the scan box and presses Enter, as a scanner does. */
async function type(code: string) {
  await fireEvent.input(input(), { target: { value: code } });
  await fireEvent.keyDown(input(), { key: "Enter" });
}

/** Scans `code` and waits for its answer on screen. */
async function scan(code: string): Promise<HTMLElement> {
  const before = screen.queryAllByTestId("scan-row").length;
  await type(code);
  await waitFor(() => expect(screen.getAllByTestId("scan-row")).toHaveLength(before + 1));
  return screen.getByTestId("scan-result");
}

function message(result: HTMLElement): string {
  return result.querySelector(".message")?.textContent ?? "";
}

describe("the Circulation tab", () => {
  it("sits after Patrons in the navigation, and its scan box has the focus when it opens", async () => {
    await openDesk();
    const tabs = Array.from(document.querySelectorAll("header.top nav button")).map((b) => b.getAttribute("data-testid"));
    expect(tabs.indexOf("nav-circulation")).toBe(tabs.indexOf("nav-patrons") + 1);
    expect(screen.getByTestId("nav-circulation").textContent?.trim()).toBe("Circulation");
    await waitFor(() => expect(document.activeElement).toBe(input()));
  });

  it("checks a copy out to the patron whose card was scanned before it, passing the patron's id", async () => {
    const backend = await openDesk();
    const card = await scan("29000001");
    expect(card.getAttribute("data-outcome")).toBe("patron_selected");
    expect(screen.getByTestId("scan-patron").textContent).toContain("Checking out to Ada Lovelace (29000001)");

    const out = await scan("3100");
    expect(backend.scans).toEqual([
      { barcode: "29000001", patronId: null },
      { barcode: "3100", patronId: "ada" },
    ]);
    expect(out.getAttribute("data-outcome")).toBe("checked_out");
    expect(message(out)).toBe("Checked out to Ada Lovelace, due 22 Dec.");
    expect(out.classList.contains("good")).toBe(true);
    expect(out.querySelector(".symbol")?.textContent).toBe("✓");
    expect(out.textContent).toContain("The Long Way");
    // The patron stays selected for the next copy.
    expect(screen.getByTestId("scan-patron")).toBeTruthy();
    expect(backend.loans.map((l) => [l.record.copy_id, l.record.patron_id, l.record.status])).toEqual([["copy-3100", "ada", "on_loan"]]);
  });

  it("checks in a copy scanned with no patron selected", async () => {
    const backend = await openDesk((b) => (b.loans = [loanOf({ id: "l1", copy_id: "copy-3100", patron_id: "bram" })]));
    const back = await scan("3100");
    expect(backend.scans).toEqual([{ barcode: "3100", patronId: null }]);
    expect(back.getAttribute("data-outcome")).toBe("returned");
    expect(message(back)).toBe("Returned.");
    expect(back.classList.contains("good")).toBe(true);
    expect(backend.loans[0].record.status).toBe("returned");
    expect(screen.queryByTestId("scan-patron")).toBeNull();
  });

  it("ends the patron's session with Done: the copy scanned next is checked in, not out", async () => {
    const backend = await openDesk();
    await scan("29000001");
    await scan("3100");
    await fireEvent.click(screen.getByTestId("scan-done"));
    expect(screen.queryByTestId("scan-patron")).toBeNull();
    expect(document.activeElement).toBe(input());
    const back = await scan("3100");
    expect(backend.scans[2]).toEqual({ barcode: "3100", patronId: null });
    expect(message(back)).toBe("Returned.");
  });

  it("ends the patron's session with Escape too", async () => {
    const backend = await openDesk();
    await scan("29000002");
    await fireEvent.keyDown(input(), { key: "Escape" });
    expect(screen.queryByTestId("scan-patron")).toBeNull();
    const alone = await scan("3100");
    expect(backend.scans[1]).toEqual({ barcode: "3100", patronId: null });
    expect(alone.getAttribute("data-outcome")).toBe("not_on_loan");
  });

  it("switches to the patron of another card scanned, and checks out to them", async () => {
    const backend = await openDesk();
    await scan("29000001");
    await scan("29000002");
    expect(screen.getByTestId("scan-patron").textContent).toContain("Checking out to Bram Carrow (29000002)");
    const out = await scan("3100");
    expect(backend.scans[2]).toEqual({ barcode: "3100", patronId: "bram" });
    expect(message(out)).toBe("Checked out to Bram Carrow, due 22 Dec.");
  });

  it("shows a refusal as needing attention, with its sentence and a warning symbol, and checks nothing out", async () => {
    const backend = await openDesk((b) => {
      const hold = holdOf({ id: "h1", patron_id: "bram", book_id: longWay.id, copy_id: "copy-3100" });
      b.holds = [{ hold: { record: hold, etag: '"1"', pending: false, in_conflict: false }, patron: bram, copy, lost: null }];
    });
    await scan("29000001");
    const refused = await scan("3100");
    expect(refused.getAttribute("data-outcome")).toBe("held_for_someone_else");
    expect(message(refused)).toBe("This copy is held for someone else.");
    expect(refused.classList.contains("attention")).toBe(true);
    expect(refused.classList.contains("good")).toBe(false);
    expect(refused.querySelector(".symbol")?.textContent).toBe("⚠");
    expect(backend.loans).toEqual([]);
  });

  it("sends a copy fetched for a hold to the hold shelf when it is scanned alone", async () => {
    await openDesk((b) => {
      const hold = holdOf({ id: "h1", patron_id: "bram", book_id: longWay.id, copy_id: "copy-3100" });
      b.holds = [{ hold: { record: hold, etag: '"1"', pending: false, in_conflict: false }, patron: bram, copy, lost: null }];
    });
    const result = await scan("3100");
    expect(result.getAttribute("data-outcome")).toBe("to_hold_shelf");
    expect(message(result)).toBe("Held for Bram Carrow: put it on the hold shelf.");
    expect(result.classList.contains("good")).toBe(true);
  });

  it("says a barcode it does not know is unknown, as needing attention", async () => {
    await openDesk();
    const result = await scan(" 999 ");
    expect(result.getAttribute("data-outcome")).toBe("unknown_barcode");
    expect(message(result)).toBe("Unknown barcode “999”.");
    expect(result.classList.contains("attention")).toBe(true);
  });

  it("shows a scan the desk could not answer as failed, in red, with the reason", async () => {
    const backend = await openDesk();
    backend.scan = async () => {
      throw { message: "cache database error: disk full", fields: [] };
    };
    const result = await scan("3100");
    expect(result.getAttribute("data-outcome")).toBe("error");
    expect(message(result)).toBe("cache database error: disk full");
    expect(result.classList.contains("bad")).toBe(true);
  });

  it("clears the scan box at once and gives it the focus again once the scan is answered", async () => {
    const backend = await openDesk();
    let answer = () => {};
    const real = backend.scan.bind(backend);
    backend.scan = (barcode, patronId) => real(barcode, patronId).then((r) => new Promise<ScanResult>((resolve) => (answer = () => resolve(r))));
    await type("3100");
    expect(input().value).toBe("");
    // The librarian clicked elsewhere while the scan was answered.
    input().blur();
    expect(document.activeElement).not.toBe(input());
    await waitFor(() => expect(backend.scans).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 0));
    answer();
    await waitFor(() => expect(screen.getAllByTestId("scan-row")).toHaveLength(1));
    expect(document.activeElement).toBe(input());
  });

  it("does nothing on an empty Enter", async () => {
    const backend = await openDesk();
    await type("   ");
    await fireEvent.keyDown(input(), { key: "Enter" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.scans).toEqual([]);
    expect(screen.queryByTestId("scan-result")).toBeNull();
    expect(screen.getByTestId("scan-session-empty").textContent).toBe("Nothing scanned yet.");
  });

  it("answers the scans in the order they were made: a copy scanned before the card's answer is still checked out", async () => {
    const backend = await openDesk();
    const real = backend.scan.bind(backend);
    backend.scan = async (barcode, patronId) => {
      if (barcode === "29000001") await new Promise((resolve) => setTimeout(resolve, 30));
      return real(barcode, patronId);
    };
    await type("29000001");
    await type("3100");
    await waitFor(() => expect(screen.getAllByTestId("scan-row")).toHaveLength(2));
    expect(backend.scans).toEqual([
      { barcode: "29000001", patronId: null },
      { barcode: "3100", patronId: "ada" },
    ]);
    expect(screen.getByTestId("scan-result").getAttribute("data-outcome")).toBe("checked_out");
  });

  it("lists the session's scans newest first, with the time, barcode, sentence and title", async () => {
    await openDesk();
    await scan("29000001");
    await scan("3100");
    await scan("999");
    const rows = screen.getAllByTestId("scan-row").map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent?.trim()));
    expect(rows.map((r) => r.slice(1))).toEqual([
      ["999", "⚠ Unknown barcode “999”.", ""],
      ["3100", "✓ Checked out to Ada Lovelace, due 22 Dec.", "The Long Way"],
      ["29000001", "✓ Checking out to Ada Lovelace: scan the copies.", ""],
    ]);
    for (const r of rows) expect(r[0]).toMatch(/\d/);
    expect(screen.getAllByTestId("scan-row").map((r) => r.getAttribute("data-outcome"))).toEqual(["unknown_barcode", "checked_out", "patron_selected"]);
  });

  it("keeps the patron and the session's scans through a visit to another tab", async () => {
    await openDesk();
    await scan("29000001");
    await fireEvent.click(screen.getByTestId("nav-catalogue"));
    await fireEvent.click(screen.getByTestId("nav-circulation"));
    expect((await screen.findByTestId("scan-patron")).textContent).toContain("Ada Lovelace");
    expect(screen.getAllByTestId("scan-row")).toHaveLength(1);
  });

  it("forgets the patron and the session's scans when the librarian signs out", async () => {
    const backend = await openDesk();
    await scan("29000001");
    backend.emitStatus({ ...onlineStatus, connection: "signed_out", user: null });
    await screen.findByTestId("sign-in-form");
    backend.emitStatus(onlineStatus);
    await fireEvent.click(await screen.findByTestId("nav-circulation"));
    await screen.findByTestId("scan-input");
    expect(screen.queryByTestId("scan-patron")).toBeNull();
    expect(screen.queryAllByTestId("scan-row")).toHaveLength(0);
  });
});
