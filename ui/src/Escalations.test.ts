import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { fakeBackend, holdOf, onlineStatus } from "./lib/fake-backend";
import type { ActiveHold, EscalationDetail, Patron, SyncStatus } from "./lib/backend";

afterEach(cleanup);

const manager: SyncStatus = { ...onlineStatus, user: "manager", role: "manager" };

function patron(id: string, name: string, premium: boolean, branch = "Central"): Patron {
  return { id, name, email: `${id}@example.org`, premium, branch, card: "", notes: "" };
}

function held(holder: Patron, n: number, branch: string): ActiveHold {
  return {
    hold: holdOf({ id: `hold-${n}`, patron_id: holder.id, book_id: "book-1", copy_id: `copy-${n}` }),
    hold_etag: `"v${n}"`,
    holder,
    premium: holder.premium,
    copy: { id: `copy-${n}`, barcode: `BC-${n}`, branch, status: "held" },
    branch,
    since: "2026-11-20T09:00:00Z",
  };
}

function escalation(id: string, status: EscalationDetail["status"], who: Patron, title: string): EscalationDetail {
  return {
    id,
    patron_id: who.id,
    book_id: "book-1",
    hold_request_id: `req-${id}`,
    status,
    resolution_note: null,
    created_at: "2026-11-21T10:00:00Z",
    patron: who,
    book: { id: "book-1", isbn: "9780306406157", title, authors: ["Ann Ray"], publisher: "", year: 2001, subjects: [], summary: "", notes: "" },
    active_holds: [held(patron("reg-1", "Rita Regular", false), 1, "North"), held(patron("prem-9", "Otto Other", true), 2, "South")],
    purchase_requests: [],
    etag: `"v3.abcd"`,
    offline: false,
  };
}

const pia = patron("prem-1", "Pia Premium", true);

function setup(status: SyncStatus) {
  const backend = fakeBackend([], status);
  backend.escalationDetails = [
    escalation("esc-done", "resolved", patron("prem-2", "Paul Past", true), "Old Book"),
    escalation("esc-open", "open", pia, "The Quiet Harbour"),
  ];
  render(App, { backend });
  return backend;
}

async function openEscalation(title: string) {
  await fireEvent.click(screen.getByTestId("nav-escalations"));
  const row = (await screen.findAllByTestId("escalation-row")).find((r) => r.textContent?.includes(title))!;
  await fireEvent.click(row);
  return screen.findByTestId("escalation-detail");
}

describe("the escalation screen", () => {
  it("badges the open count and lists open escalations first with patron, book, branch, since, status", async () => {
    setup(manager);
    expect((await screen.findByTestId("escalations-badge")).textContent).toBe("1");
    await fireEvent.click(screen.getByTestId("nav-escalations"));
    const rows = await screen.findAllByTestId("escalation-row");
    expect(rows.map((r) => r.getAttribute("data-status"))).toEqual(["open", "resolved"]);
    expect(rows[0].textContent).toContain("Pia Premium");
    expect(rows[0].textContent).toContain("The Quiet Harbour");
    expect(rows[0].textContent).toContain("Central");
    expect(rows[0].textContent).toContain("2026");
    expect(within(rows[1]).getByTestId("escalation-status").textContent).toBe("resolved");
  });

  it("shows every active hold with its holder, premium mark, copy, branch and since", async () => {
    setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    expect(within(detail).getByTestId("escalation-patron").textContent).toContain("Pia Premium");
    const holds = await within(detail).findAllByTestId("active-hold");
    expect(holds).toHaveLength(2);
    expect(holds[0].textContent).toContain("Rita Regular");
    expect(holds[0].textContent).toContain("BC-1");
    expect(holds[0].textContent).toContain("North");
    expect(within(holds[1]).getByText("premium")).toBeTruthy();
    expect(within(detail).getByTestId("no-purchase")).toBeTruthy();
  });

  it("opens the book's contest from an escalation: who got the copies, and why", async () => {
    const backend = setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    const bookId = backend.escalationDetails.find((d) => d.id === "esc-open")!.book_id;
    backend.contests.set(bookId, [
      { entry: { hold_id: "h1", patron_id: "rita", patron_premium: false, at: "2026-11-20T10:00:00.000Z", outcome: "won", copy_id: "c1" }, patron: "Rita Regular", from_patron: null, barcode: "BC-1" },
      { entry: { hold_id: "h2", patron_id: "pia", patron_premium: true, at: "2026-11-20T10:01:00.000Z", outcome: "lost", escalation_id: "esc-open" }, patron: "Pia Premium", from_patron: null, barcode: null },
    ]);
    await fireEvent.click(within(detail).getByTestId("escalation-contest"));
    const lines = await screen.findAllByTestId("contest-line");
    expect(lines.map((l) => l.dataset.outcome)).toEqual(["won", "lost"]);
    expect(lines[1].textContent).toContain("Pia Premium (premium) placed a hold; every copy was taken.");
  });

  it("lets a manager reassign a regular patron's copy after a preview of exactly what happens", async () => {
    const backend = setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    await fireEvent.click(within(detail).getByTestId("action-reassign"));
    const dialog = await screen.findByTestId("reassign-dialog");
    const options = within(dialog).getAllByTestId("reassign-option");
    expect(options).toHaveLength(1); // the premium holder cannot be chosen
    expect((within(dialog).getByTestId("reassign-confirm") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(within(options[0]).getByRole("radio"));
    const preview = await within(dialog).findByTestId("reassign-preview");
    expect(within(preview).getByTestId("preview-loses").textContent).toContain("Rita Regular loses copy BC-1 at North");
    expect(within(preview).getByTestId("preview-email").textContent).toContain("emailed at reg-1@example.org");
    expect(within(preview).getByTestId("preview-gets").textContent).toContain("Pia Premium gets copy BC-1");
    await fireEvent.input(within(dialog).getByTestId("reassign-note"), { target: { value: "premium first" } });
    await fireEvent.click(within(dialog).getByTestId("reassign-confirm"));
    await waitFor(() => expect(screen.queryByTestId("reassign-dialog")).toBeNull());
    expect(backend.escalationActions).toEqual([{ action: "reassign", id: "esc-open", etag: '"v3.abcd"', args: ["hold-1", "premium first"] }]);
    expect((await screen.findByTestId("escalation-detail-status")).textContent).toBe("copy reassigned");
    expect(screen.getByTestId("escalation-outcome").textContent).toContain("Pia Premium holds copy BC-1");
    await waitFor(() => expect(screen.queryByTestId("escalations-badge")).toBeNull());
  });

  it("explains a hold that changed meanwhile and shows the refreshed holds", async () => {
    const backend = setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    const current = backend.escalationDetails.find((d) => d.id === "esc-open")!;
    backend.nextConflict = {
      message: "The hold you chose changed meanwhile (it is now cancelled), so nothing was done.",
      detail: { ...current, active_holds: current.active_holds.filter((h) => h.hold.id !== "hold-1"), etag: '"v3.ffff"' },
    };
    await fireEvent.click(within(detail).getByTestId("action-reassign"));
    const dialog = await screen.findByTestId("reassign-dialog");
    await fireEvent.click(within(dialog).getByRole("radio"));
    await fireEvent.click(within(dialog).getByTestId("reassign-confirm"));
    const notice = await screen.findByTestId("escalation-notice");
    expect(notice.textContent).toContain("changed meanwhile");
    expect(notice.getAttribute("role")).toBe("alert");
    expect(screen.getAllByTestId("active-hold")).toHaveLength(1);
    expect((screen.getByTestId("action-reassign") as HTMLButtonElement).disabled).toBe(true);
  });

  it("says so when a sync takes the chosen hold away while the reassign dialog is open", async () => {
    const backend = setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    await fireEvent.click(within(detail).getByTestId("action-reassign"));
    const dialog = await screen.findByTestId("reassign-dialog");
    await fireEvent.click(within(dialog).getByRole("radio"));
    await within(dialog).findByTestId("reassign-preview");
    // Another desk cancels Rita's hold; the next sync brings it and the detail is read again.
    backend.escalationDetails = backend.escalationDetails.map((d) =>
      d.id === "esc-open" ? { ...d, active_holds: d.active_holds.filter((h) => h.hold.id !== "hold-1") } : d,
    );
    backend.emitStatus({ ...manager, last_seq: manager.last_seq + 1 });
    const gone = await within(dialog).findByTestId("reassign-gone");
    expect(gone.textContent).toContain("changed meanwhile");
    expect(within(dialog).queryByTestId("reassign-preview")).toBeNull();
    expect((within(dialog).getByTestId("reassign-confirm") as HTMLButtonElement).disabled).toBe(true);
    expect(backend.escalationActions).toEqual([]);
  });

  it("flags a purchase with a quantity and a note, then resolves by hand with a required note", async () => {
    const backend = setup(manager);
    const detail = await openEscalation("The Quiet Harbour");
    await fireEvent.click(within(detail).getByTestId("action-purchase"));
    const purchase = await screen.findByTestId("purchase-dialog");
    await fireEvent.input(within(purchase).getByTestId("purchase-quantity"), { target: { value: "2" } });
    await fireEvent.input(within(purchase).getByTestId("purchase-note"), { target: { value: "popular" } });
    await fireEvent.click(within(purchase).getByTestId("purchase-confirm"));
    expect((await screen.findByTestId("escalation-detail-status")).textContent).toBe("purchase flagged");
    await waitFor(() => expect(screen.getByTestId("purchase-request").textContent).toContain("2 copies"));
    expect((screen.getByTestId("action-purchase") as HTMLButtonElement).disabled).toBe(true);

    await fireEvent.click(screen.getByTestId("action-resolve"));
    const resolve = await screen.findByTestId("resolve-dialog");
    await fireEvent.click(within(resolve).getByTestId("resolve-confirm"));
    expect((await within(resolve).findByTestId("resolve-note-error")).textContent).toContain("Say how");
    await fireEvent.input(within(resolve).getByTestId("resolve-note"), { target: { value: "phoned the patron" } });
    await fireEvent.click(within(resolve).getByTestId("resolve-confirm"));
    await waitFor(() => expect(screen.getByTestId("escalation-detail-status").textContent).toBe("resolved"));
    expect(screen.getByTestId("escalation-note").textContent).toContain("phoned the patron");
    expect(backend.escalationActions.map((a) => [a.action, ...a.args])).toEqual([
      ["purchase", 2, "popular"],
      ["resolve", "phoned the patron"],
    ]);
  });

  it("shows a librarian the actions disabled with the reason", async () => {
    const backend = setup(onlineStatus);
    const detail = await openEscalation("The Quiet Harbour");
    for (const id of ["action-reassign", "action-purchase", "action-resolve"]) {
      const button = within(detail).getByTestId(id) as HTMLButtonElement;
      expect(button.disabled).toBe(true);
      expect(button.title).toContain("Only a manager");
    }
    expect(within(detail).getByTestId("actions-disabled-reason").textContent).toContain("signed in as a librarian");
    expect(backend.escalationActions).toEqual([]);
  });

  it("renders server text as text", async () => {
    const backend = fakeBackend([], manager);
    const evil = '<img src=x onerror="window.pwned=1">';
    backend.escalationDetails = [escalation("e", "open", patron("p", evil, true), evil)];
    const { container } = render(App, { backend });
    await openEscalation(evil);
    expect(screen.getAllByText(evil).length).toBeGreaterThan(0);
    expect(container.querySelector("img")).toBeNull();
  });
});
