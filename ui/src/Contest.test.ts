import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import Contest from "./lib/Contest.svelte";
import { book, fakeBackend, onlineStatus } from "./lib/fake-backend";
import type { ContestLine } from "./lib/backend";

afterEach(cleanup);

const at = "2026-12-02T10:00:00.000Z";
/** Ann won the only copy, Bob lost, Vera (premium) lost and was escalated, then the manager gave her Ann's copy. */
const decided: ContestLine[] = [
  { entry: { hold_id: "h1", patron_id: "ann", patron_premium: false, at, outcome: "won", copy_id: "c1" }, patron: "Ann Early", from_patron: null, barcode: "31000001" },
  { entry: { hold_id: "h2", patron_id: "bob", patron_premium: false, at, outcome: "lost", escalation_id: null }, patron: "Bob Later", from_patron: null, barcode: null },
  { entry: { hold_id: "h3", patron_id: "vera", patron_premium: true, at, outcome: "lost", escalation_id: "e1" }, patron: "Vera Premium", from_patron: null, barcode: null },
  {
    entry: { hold_id: "h4", patron_id: "vera", patron_premium: true, at, outcome: "reassigned", copy_id: "c1", from_hold_id: "h1", to_hold_id: "h4", by: "manager", note: "Vera is housebound" },
    patron: "Vera Premium",
    from_patron: "Ann Early",
    barcode: "31000001",
  },
];

function show(lines: ContestLine[] | null, error: string | null = null) {
  const b = book("The Long Way", ["Ann Author"]);
  const backend = fakeBackend([b], onlineStatus);
  if (lines) backend.contests.set(b.id, lines);
  backend.historyError = error;
  render(Contest, { backend, bookId: b.id, title: b.title, onClose: () => {} });
}

describe("a book's contest", () => {
  it("says every decision in the order the server made it, who won which copy and who lost", async () => {
    show(decided);
    const lines = await screen.findAllByTestId("contest-line");
    expect(lines.map((l) => l.dataset.outcome)).toEqual(["won", "lost", "lost", "reassigned"]);
    expect(lines[0].textContent).toContain("Ann Early placed a hold and got copy 31000001.");
    expect(lines[1].textContent).toContain("Bob Later placed a hold; every copy was taken.");
    expect(lines[1].textContent).not.toContain("manager");
    expect(lines[2].textContent).toContain("Vera Premium (premium) placed a hold; every copy was taken. The manager was told");
  });

  it("names the manager who moved a copy, from whose hold, and the note", async () => {
    show(decided);
    const lines = await screen.findAllByTestId("contest-line");
    expect(lines[3].textContent).toContain("manager gave copy 31000001 from Ann Early's hold to Vera Premium (premium).");
    expect(screen.getByTestId("contest-note").textContent).toBe("“Vera is housebound”");
  });

  it("says plainly when no hold was placed, and when the server cannot be reached", async () => {
    show([]);
    expect((await screen.findByTestId("contest-empty")).textContent).toContain("No hold has been placed");
    cleanup();
    show(null, "History needs a connection to the server.");
    expect((await screen.findByTestId("contest-error")).textContent).toBe("History needs a connection to the server.");
  });
});
