import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, copyOf, fakeBackend, holdOf, loanOf, onlineStatus, type FakeBackend } from "./lib/fake-backend";
import { formatDay } from "./lib/format";
import type { Hold, Patron, SyncStatus } from "./lib/backend";

afterEach(cleanup);

const manager: SyncStatus = { ...onlineStatus, user: "manager", role: "manager" };

function patron(id: string, name: string, card: string, extra: Partial<Patron> = {}): Patron {
  return { id, name, email: `${id}@example.org`, premium: false, branch: "North", card, notes: "", ...extra };
}

const ada = patron("ada", "Ada Lovelace", "29000001", { email: "countess@analytical.org", premium: true });
const alan = patron("alan", "Alan Turing", "29000002", { email: "alan@bletchley.uk" });
const grace = patron("grace", "Grace Hopper", "29000010", { email: "grace@navy.mil", notes: "Prefers large print.\nCall before 5 pm." });

/** The app on the Patrons tab, with these patrons and the branches Central and North. */
async function openPatrons(patrons: Patron[] = [ada, alan, grace], status: SyncStatus = onlineStatus): Promise<FakeBackend> {
  const backend = fakeBackend([], status);
  backend.patrons = [...patrons];
  backend.branches = async () => ["Central", "North"];
  render(App, { backend });
  await screen.findByText(`Signed in as ${status.user}`);
  await fireEvent.click(screen.getByTestId("nav-patrons"));
  await screen.findByTestId("patron-search");
  return backend;
}

async function search(text: string) {
  await fireEvent.input(screen.getByTestId("patron-search"), { target: { value: text } });
}

/** The names in the result list, once it shows exactly `count` rows. */
async function namesShown(count: number): Promise<string[]> {
  await waitFor(() => expect(screen.queryAllByTestId("patron-row")).toHaveLength(count));
  return screen.getAllByTestId("patron-open").map((b) => b.textContent ?? "");
}

/** The patron form, opened from the New patron button or the page's Edit button. */
async function openForm(button: "new-patron" | "edit-patron"): Promise<HTMLElement> {
  await fireEvent.click(await screen.findByTestId(button));
  return screen.findByTestId("patron-form");
}

function field(form: HTMLElement, name: string): HTMLInputElement {
  return form.querySelector(`[name=${name}]`) as HTMLInputElement;
}

async function type(form: HTMLElement, name: string, value: string) {
  await fireEvent.input(field(form, name), { target: { value } });
}

describe("the Patrons tab", () => {
  it("sits right after Catalogue in the navigation", async () => {
    const backend = fakeBackend([], onlineStatus);
    render(App, { backend });
    await screen.findByText("Signed in as librarian");
    const tabs = Array.from(document.querySelectorAll("header.top nav button")).map((b) => b.getAttribute("data-testid"));
    expect(tabs.slice(0, 2)).toEqual(["nav-catalogue", "nav-patrons"]);
    expect(screen.getByTestId("nav-patrons").textContent?.trim()).toBe("Patrons");
  });

  it("focuses the search box when the tab opens", async () => {
    await openPatrons();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("patron-search")));
  });

  it("finds patrons by part of the name, whatever the case, and shows name, card, email, branch and a premium badge", async () => {
    await openPatrons();
    await search("LOVE");
    expect(await namesShown(1)).toEqual(["Ada Lovelace"]);
    const row = screen.getByTestId("patron-row");
    expect(Array.from(row.querySelectorAll("td")).map((td) => td.textContent?.trim())).toEqual([
      "Ada Lovelace premium",
      "29000001",
      "countess@analytical.org",
      "North",
    ]);
    await search("turing");
    expect(await namesShown(1)).toEqual(["Alan Turing"]);
    expect(screen.getByTestId("patron-row").querySelector(".badge.premium")).toBeNull();
  });

  it("finds a patron by email", async () => {
    await openPatrons();
    await search("bletchley");
    expect(await namesShown(1)).toEqual(["Alan Turing"]);
  });

  it("finds a patron by library card", async () => {
    await openPatrons();
    await search("29000010");
    expect(await namesShown(1)).toEqual(["Grace Hopper"]);
  });

  it("opens the patron whose card is scanned (the card, then Enter), and not a patron found by name", async () => {
    await openPatrons();
    await search("Alan");
    await namesShown(1);
    await fireEvent.keyDown(screen.getByTestId("patron-search"), { key: "Enter" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(screen.queryByTestId("patron-view")).toBeNull();

    await search("29000002");
    await fireEvent.keyDown(screen.getByTestId("patron-search"), { key: "Enter" });
    const page = await screen.findByTestId("patron-view");
    expect(within(page).getByTestId("patron-name").textContent).toBe("Alan Turing");
    expect(within(page).getByTestId("patron-card").textContent).toBe("29000002");
    // Back on the list, the search box is empty for the next card.
    await fireEvent.click(within(page).getByTestId("patron-back"));
    expect((await screen.findByTestId("patron-search") as HTMLInputElement).value).toBe("");
  });

  it("says plainly when no patron matches the search", async () => {
    await openPatrons();
    await search("Zebedee");
    expect((await screen.findByTestId("patrons-empty")).textContent?.trim()).toBe("No patron matches “Zebedee”.");
    expect(screen.queryAllByTestId("patron-row")).toHaveLength(0);
  });

  it("says more may match when a search fills its 50 results, and not once it is refined", async () => {
    const many = Array.from({ length: 60 }, (_, i) => patron(`p${i}`, `Reader ${String(i).padStart(2, "0")}`, `3100${i}`));
    await openPatrons(many);
    await search("reader");
    await namesShown(50);
    expect((await screen.findByTestId("patrons-more")).textContent).toBe(
      "Only the first 50 patrons are shown: more may match. Refine the search to find the others.",
    );
    await search("reader 5");
    await namesShown(10);
    expect(screen.queryByTestId("patrons-more")).toBeNull();
  });

  it("registers a patron under a new random id with savePatron in create mode, then shows the page and the saved notice", async () => {
    const backend = await openPatrons();
    const form = await openForm("new-patron");
    expect((within(form).getByTestId("patron-branch") as HTMLSelectElement).value).toBe("Central");
    await type(form, "name", "  Katherine Johnson ");
    await type(form, "card", "29000099");
    await type(form, "email", "kj@nasa.gov");
    await fireEvent.change(within(form).getByTestId("patron-branch"), { target: { value: "North" } });
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    const page = await screen.findByTestId("patron-view");
    expect(backend.savedPatrons).toHaveLength(1);
    const { patron: sent, mode } = backend.savedPatrons[0];
    expect(mode).toBe("create");
    expect(sent.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sent).toMatchObject({ name: "Katherine Johnson", card: "29000099", email: "kj@nasa.gov", branch: "North", premium: false });
    expect(within(page).getByTestId("patron-name").textContent).toBe("Katherine Johnson");
    expect(within(page).getByTestId("patron-email").textContent).toBe("kj@nasa.gov");
    expect(within(page).getByTestId("patron-branch").textContent).toBe("North");
    expect(within(page).getByTestId("patron-premium").textContent).toBe("No");
    expect(screen.queryByTestId("patron-form")).toBeNull();
    expect(screen.getByTestId("saved-notice").textContent).toBe("Saved “Katherine Johnson”.");
    // The new patron is found from then on.
    await fireEvent.click(within(page).getByTestId("patron-back"));
    await search("katherine");
    expect(await namesShown(1)).toEqual(["Katherine Johnson"]);
  });

  it("asks for a name before saving a new patron", async () => {
    const backend = await openPatrons();
    const form = await openForm("new-patron");
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    expect((await within(form).findByTestId("error-name")).textContent).toBe("a patron needs a name");
    expect(backend.savedPatrons).toHaveLength(0);
  });

  it("edits a patron under the same id with savePatron in edit mode", async () => {
    const backend = await openPatrons();
    await search("alan");
    await namesShown(1);
    await fireEvent.click(screen.getByTestId("patron-open"));
    const form = await openForm("edit-patron");
    expect(field(form, "name").value).toBe("Alan Turing");
    expect(field(form, "card").value).toBe("29000002");
    expect((within(form).getByTestId("patron-branch") as HTMLSelectElement).value).toBe("North");
    await type(form, "email", "alan@manchester.ac.uk");
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    await waitFor(() => expect(screen.queryByTestId("patron-form")).toBeNull());
    expect(backend.savedPatrons.map((s) => [s.patron.id, s.mode])).toEqual([["alan", "edit"]]);
    expect(backend.savedPatrons[0].patron).toEqual({ ...alan, email: "alan@manchester.ac.uk" });
    expect(screen.getByTestId("patron-email").textContent).toBe("alan@manchester.ac.uk");
    expect(screen.getByTestId("saved-notice").textContent).toBe("Saved “Alan Turing”.");
    expect(backend.patrons.filter((p) => p.id === "alan")).toHaveLength(1);
  });

  it("shows a card another patron has beside the card field, and keeps everything typed", async () => {
    const backend = await openPatrons();
    const form = await openForm("new-patron");
    await type(form, "name", "Mary Somerville");
    await type(form, "card", "29000001");
    await type(form, "email", "mary@example.org");
    await fireEvent.change(within(form).getByTestId("patron-branch"), { target: { value: "North" } });
    await type(form, "notes", "Astronomy.\nBrings her own lamp.");
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    const error = await within(form).findByTestId("error-card");
    expect(error.textContent).toBe("patron Ada Lovelace already has this card");
    expect(error.closest("label")).toBe(field(form, "card").closest("label"));
    expect(field(form, "card").getAttribute("aria-invalid")).toBe("true");
    expect(within(form).queryByRole("alert")).toBeNull();
    expect(screen.getByTestId("patron-form")).toBe(form);
    expect(field(form, "name").value).toBe("Mary Somerville");
    expect(field(form, "card").value).toBe("29000001");
    expect(field(form, "email").value).toBe("mary@example.org");
    expect((within(form).getByTestId("patron-branch") as HTMLSelectElement).value).toBe("North");
    expect((field(form, "notes") as unknown as HTMLTextAreaElement).value).toBe("Astronomy.\nBrings her own lamp.");
    expect(backend.patrons.some((p) => p.name === "Mary Somerville")).toBe(false);
  });

  it("shows a refusal of no field of the form at its top", async () => {
    const backend = await openPatrons();
    backend.savePatron = async () => {
      throw { message: "cache database error: disk full", fields: [] };
    };
    const form = await openForm("new-patron");
    await type(form, "name", "Mary Somerville");
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    const alert = await within(form).findByRole("alert");
    expect(alert.textContent).toBe("cache database error: disk full");
    expect(form.querySelector("form")?.firstElementChild?.nextElementSibling).toBe(alert);
  });

  it("disables the premium switch for a librarian, saying only a manager can change it", async () => {
    await openPatrons();
    const form = await openForm("new-patron");
    const premium = within(form).getByTestId("patron-premium") as HTMLInputElement;
    expect(premium.disabled).toBe(true);
    expect(within(form).getByTestId("premium-why").textContent).toBe("Only a manager can change this.");
  });

  it("offers a patron's history to a manager only", async () => {
    await openPatrons([ada, alan, grace]);
    await search("alan");
    await namesShown(1);
    await fireEvent.click(screen.getByTestId("patron-open"));
    await screen.findByTestId("patron-view");
    expect(screen.queryByTestId("patron-history")).toBeNull();
    cleanup();
    const backend = await openPatrons([ada, alan, grace], manager);
    await search("alan");
    await namesShown(1);
    await fireEvent.click(screen.getByTestId("patron-open"));
    await fireEvent.click(await screen.findByTestId("patron-history"));
    await screen.findByTestId("history-dialog");
    await waitFor(() => expect(backend.historyRequests).toEqual([`patron:${alan.id}`]));
  });

  it("lets a manager make a patron premium", async () => {
    const backend = await openPatrons([ada, alan, grace], manager);
    await search("alan");
    await namesShown(1);
    await fireEvent.click(screen.getByTestId("patron-open"));
    const form = await openForm("edit-patron");
    const premium = within(form).getByTestId("patron-premium") as HTMLInputElement;
    expect(premium.disabled).toBe(false);
    expect(within(form).queryByTestId("premium-why")).toBeNull();
    await fireEvent.click(premium);
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    await waitFor(() => expect(screen.queryByTestId("patron-form")).toBeNull());
    expect(backend.savedPatrons[0].patron.premium).toBe(true);
    expect(screen.getByTestId("patron-premium").textContent).toBe("Yes");
  });

  it("shows a patron's notes with their line breaks, as typed in the form", async () => {
    await openPatrons();
    await search("grace");
    await namesShown(1);
    await fireEvent.click(screen.getByTestId("patron-open"));
    const lines = (el: HTMLElement) => el.innerHTML.replace(/<!--.*?-->/g, "").split("<br>");
    expect(lines(await screen.findByTestId("patron-notes"))).toEqual(["Prefers large print.", "Call before 5 pm."]);
    const form = await openForm("edit-patron");
    await type(form, "notes", "Prefers large print.\n\nCall before 5 pm.\nNo calls on Sundays.");
    await fireEvent.click(within(form).getByTestId("patron-form-save"));
    await waitFor(() => expect(screen.queryByTestId("patron-form")).toBeNull());
    expect(lines(screen.getByTestId("patron-notes"))).toEqual(["Prefers large print.", "", "Call before 5 pm.", "No calls on Sundays."]);
  });
});

describe("a patron's holds and loans on their page", () => {
  const longWay = book("The Long Way", ["Becky Chambers"]);
  const harbour = book("The Quiet Harbour", ["Mira Solberg"]);
  const mountains = book("Loud Mountains", ["Ann Ray"]);

  function held(fields: Pick<Hold, "id" | "patron_id" | "book_id"> & Partial<Hold>) {
    return { hold: { record: holdOf(fields), etag: '"1"', pending: false, in_conflict: false }, patron: null, copy: null, lost: null };
  }

  /** Ada's page, with her holds and loans as `setUp` leaves them. */
  async function openAda(setUp: (b: FakeBackend) => void): Promise<FakeBackend> {
    const backend = await openPatrons();
    backend.books = [longWay, harbour, mountains];
    backend.copies = [copyOf(longWay, "3100"), copyOf(harbour, "3200"), copyOf(mountains, "3300"), copyOf(longWay, "3400")];
    setUp(backend);
    await search("29000001");
    await fireEvent.keyDown(screen.getByTestId("patron-search"), { key: "Enter" });
    await screen.findByTestId("patron-activity");
    return backend;
  }

  const rows = (testId: string) =>
    screen.getAllByTestId(testId).map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent?.trim()));

  it("lists the patron's holds being fetched or ready (until their last day), with the pickup branch, and their loans with the due date", async () => {
    const backend = await openAda((b) => {
      b.holds = [
        held({ id: "h1", patron_id: "ada", book_id: longWay.id, copy_id: "copy-3100", pickup_branch: "Central" }),
        held({ id: "h2", patron_id: "ada", book_id: harbour.id, copy_id: "copy-3200", status: "ready", pickup_by: "2026-12-08T10:00:00Z" }),
        // Someone else's, and one done with: not hers now.
        held({ id: "h3", patron_id: "alan", book_id: mountains.id, copy_id: "copy-3300" }),
        held({ id: "h4", patron_id: "ada", book_id: mountains.id, status: "cancelled" }),
      ];
      b.loans = [
        loanOf({ id: "l1", copy_id: "copy-3300", patron_id: "ada", due_at: "2026-12-22T10:00:00Z" }),
        loanOf({ id: "l2", copy_id: "copy-3400", patron_id: "ada", status: "returned" }),
        loanOf({ id: "l3", copy_id: "copy-3400", patron_id: "alan" }),
      ];
    });
    await waitFor(() => expect(screen.getAllByTestId("activity-hold")).toHaveLength(2));
    expect(backend.activityRequests).toEqual(["ada"]);
    expect(rows("activity-hold")).toEqual([
      ["The Long Way", "being fetched", "Central"],
      ["The Quiet Harbour", `ready until ${formatDay("2026-12-08T10:00:00Z")}`, "North"],
    ]);
    expect(rows("activity-loan")).toEqual([["Loud Mountains", "3300", `due ${formatDay("2026-12-22T10:00:00Z")}`]]);
    expect(screen.queryByTestId("activity-holds-empty")).toBeNull();
    expect(screen.queryByTestId("activity-loans-empty")).toBeNull();
  });

  it("says the due date comes with the next sync for a loan the server has not answered yet", async () => {
    await openAda((b) => (b.loans = [loanOf({ id: "l1", copy_id: "copy-3100", patron_id: "ada" }, true)]));
    await waitFor(() => expect(screen.getAllByTestId("activity-loan")).toHaveLength(1));
    expect(rows("activity-loan")).toEqual([["The Long Way", "3100", "due date after the next sync"]]);
  });

  it("says plainly when the patron has no holds and nothing on loan", async () => {
    await openAda(() => {});
    expect((await screen.findByTestId("activity-holds-empty")).textContent).toBe("No holds.");
    expect(screen.getByTestId("activity-loans-empty").textContent).toBe("Nothing on loan.");
    expect(screen.queryAllByTestId("activity-hold")).toHaveLength(0);
    expect(screen.queryAllByTestId("activity-loan")).toHaveLength(0);
  });

  it("reads the holds and loans again when a sync brings changes, the page still open", async () => {
    const backend = await openAda(() => {});
    await screen.findByTestId("activity-loans-empty");
    backend.loans = [loanOf({ id: "l1", copy_id: "copy-3100", patron_id: "ada", due_at: "2026-12-22T10:00:00Z" })];
    backend.emitStatus({ ...onlineStatus, last_seq: onlineStatus.last_seq + 1 });
    await waitFor(() => expect(screen.getAllByTestId("activity-loan")).toHaveLength(1));
    expect(backend.activityRequests).toEqual(["ada", "ada"]);
  });

  it("shows a copy checked out at the circulation desk on the patron's page", async () => {
    await openAda(() => {});
    await screen.findByTestId("activity-loans-empty");
    await fireEvent.click(screen.getByTestId("nav-circulation"));
    const scanBox = await screen.findByTestId("scan-input");
    for (const code of ["29000001", "3200"]) {
      await fireEvent.input(scanBox, { target: { value: code } });
      await fireEvent.keyDown(scanBox, { key: "Enter" });
    }
    await waitFor(() => expect(screen.getByTestId("scan-result").getAttribute("data-outcome")).toBe("checked_out"));
    await fireEvent.click(screen.getByTestId("nav-patrons"));
    await waitFor(() => expect(screen.getAllByTestId("activity-loan")).toHaveLength(1));
    expect(rows("activity-loan")).toEqual([["The Quiet Harbour", "3200", "due date after the next sync"]]);
  });
});
