import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, copyOf, fakeBackend, holdOf, onlineStatus } from "./lib/fake-backend";
import type { ConflictSummary, Copy, OutboxEntry } from "./lib/backend";
import type { JsonValue } from "./lib/bindings/serde_json/JsonValue";

afterEach(cleanup);

describe("the catalogue window", () => {
  it("lists the cached books with authors, year and availability", async () => {
    const harbour = book("The Quiet Harbour", ["Mira Solberg", "Tom Hale"]);
    const mountains = book("Loud Mountains", ["Ann Ray"]);
    const backend = fakeBackend([harbour, mountains], onlineStatus, [
      copyOf(harbour, "B1"),
      copyOf(harbour, "B2", "on_loan"),
      copyOf(harbour, "B3", "on_loan"),
      copyOf(mountains, "B4", "missing"),
    ]);
    render(App, { backend });
    expect(await screen.findByText("The Quiet Harbour")).toBeTruthy();
    expect(screen.getByText("Mira Solberg, Tom Hale")).toBeTruthy();
    expect(screen.getByText("1 of 3 available")).toBeTruthy();
    expect(screen.getByText("0 of 1 available")).toBeTruthy();
    expect(screen.getByTestId("catalogue-count").textContent).toBe("2 books");
    expect(await screen.findByText("Signed in as librarian")).toBeTruthy();
    expect(screen.getByTestId("status-connection").textContent?.trim()).toBe("Online");
  });

  it("tells books of the same title apart by the ISBN in their rows, and leaves it empty when there is none", async () => {
    const first = { ...book("Poems", ["Ann Ray"]), id: "poems-1", isbn: "978-0-306-40615-7" };
    const second = { ...book("Poems", ["Ann Ray"]), id: "poems-2", isbn: "9781861972712" };
    const third = { ...book("Poems", ["Ann Ray"]), id: "poems-3", isbn: "" };
    const backend = fakeBackend([first, second, third], onlineStatus);
    const { container } = render(App, { backend });
    await waitFor(() => expect(screen.getAllByTestId("book-row")).toHaveLength(3));
    const isbns = screen.getAllByTestId("book-row").map((row) => row.querySelector(".isbn")?.textContent);
    expect(isbns).toEqual(["978-0-306-40615-7", "9781861972712", ""]);
    expect(Array.from(container.querySelectorAll(".list-head span")).map((s) => s.textContent)).toEqual(["Title", "Authors", "Year", "ISBN", "Copies"]);
  });

  it("says once, after they are painted, that the first rows are visible (startup probe)", async () => {
    const backend = fakeBackend([book("The Quiet Harbour", ["Mira"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await waitFor(() => expect(backend.visibleReports).toBe(1));
    await fireEvent.input(screen.getByTestId("catalogue-search"), { target: { value: "quiet" } });
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    expect(backend.visibleReports).toBe(1);
  });

  it("reads the branches and escalations only once the catalogue's first rows are on screen", async () => {
    const harbour = book("The Quiet Harbour", ["Mira"]);
    const backend = fakeBackend([harbour], onlineStatus, [copyOf(harbour, "B1")]);
    // Each call, and whether the first row was already on screen when it was made.
    const calls: string[] = [];
    for (const name of ["branches", "escalations"] as const) {
      const real = backend[name].bind(backend) as (...args: unknown[]) => Promise<unknown>;
      (backend as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls.push(`${name} ${screen.queryByText("The Quiet Harbour") ? "after" : "before"} the rows`);
        return real(...args);
      };
    }
    render(App, { backend });
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls.sort()).toEqual(["branches after the rows", "escalations after the rows"]);
    const select = screen.getByTestId("filter-branch") as HTMLSelectElement;
    await waitFor(() => expect(Array.from(select.options).map((o) => o.value)).toContain("Central"));
  });

  it("drops the pages scrolled far away and fetches them again when the list comes back", async () => {
    const many = Array.from({ length: 3000 }, (_, i) => book(`Book ${String(i).padStart(4, "0")}`, ["A"]));
    const backend = fakeBackend(many, onlineStatus);
    const offsets: number[] = [];
    const real = backend.listBooks.bind(backend);
    backend.listBooks = (query) => {
      offsets.push(query.offset);
      return real(query);
    };
    render(App, { backend });
    await screen.findByText("Book 0000");
    // The first status has come (it reloads the list once).
    await screen.findByText("Signed in as librarian");
    const list = screen.getByTestId("catalogue-list");
    const scrollTo = async (top: number) => {
      Object.defineProperty(list, "scrollTop", { configurable: true, value: top });
      await fireEvent.scroll(list);
    };
    await scrollTo(2500 * 32);
    expect(await screen.findByText("Book 2500")).toBeTruthy();
    const before = offsets.filter((o) => o === 0).length;
    await scrollTo(0);
    expect(await screen.findByText("Book 0000")).toBeTruthy();
    expect(offsets.filter((o) => o === 0).length).toBe(before + 1);
  });

  it("moves the selection through the list with the arrow keys from the search box", async () => {
    const backend = fakeBackend([book("Alpha", ["A"]), book("Beta", ["B"]), book("Gamma", ["C"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("Gamma");
    const search = screen.getByTestId("catalogue-search");
    const selected = () => screen.getAllByRole("option").filter((o) => o.getAttribute("aria-selected") === "true").map((o) => o.querySelector(".title")?.textContent);
    await fireEvent.keyDown(search, { key: "ArrowDown" });
    expect(selected()).toEqual(["Alpha"]);
    await fireEvent.keyDown(search, { key: "ArrowDown" });
    await fireEvent.keyDown(search, { key: "ArrowDown" });
    expect(selected()).toEqual(["Gamma"]);
    await fireEvent.keyDown(search, { key: "ArrowUp" });
    expect(selected()).toEqual(["Beta"]);
  });

  it("starts the arrow keys from the first row in view once the selection was scrolled far away", async () => {
    const many = Array.from({ length: 3000 }, (_, i) => book(`Book ${String(i).padStart(4, "0")}`, ["A"]));
    const backend = fakeBackend(many, onlineStatus);
    render(App, { backend });
    await screen.findByText("Book 0000");
    await screen.findByText("Signed in as librarian");
    const search = screen.getByTestId("catalogue-search");
    await fireEvent.keyDown(search, { key: "ArrowDown" });
    const list = screen.getByTestId("catalogue-list");
    Object.defineProperty(list, "scrollTop", { configurable: true, writable: true, value: 2500 * 32 });
    await fireEvent.scroll(list);
    await waitFor(() => expect(screen.getAllByRole("option").some((o) => o.textContent?.includes("Book 2500"))).toBe(true));
    await fireEvent.keyDown(search, { key: "ArrowDown" });
    const selected = screen.getAllByRole("option").filter((o) => o.getAttribute("aria-selected") === "true");
    expect(selected.map((o) => o.querySelector(".title")?.textContent)).toEqual(["Book 2500"]);
  });

  it("shows the first page read before the first sync status, without waiting for it to be read again", async () => {
    const backend = fakeBackend([book("The Quiet Harbour", ["Mira"])], onlineStatus);
    const held: (() => void)[] = [];
    const real = backend.listBooks.bind(backend);
    backend.listBooks = (query) => new Promise((resolve) => held.push(() => void real(query).then(resolve)));
    render(App, { backend });
    // The first status arrives (and moves the data key) while the first page is being read.
    await screen.findByText("Signed in as librarian");
    await waitFor(() => expect(held.length).toBeGreaterThanOrEqual(2));
    held[0]();
    expect(await screen.findByText("The Quiet Harbour")).toBeTruthy();
  });

  it("keeps the rows on screen while a sync's changes are read again", async () => {
    const backend = fakeBackend([book("First", ["A"])], { ...onlineStatus, last_seq: 1 });
    render(App, { backend });
    await screen.findByText("First");
    await screen.findByText("Signed in as librarian");
    const held: (() => void)[] = [];
    const real = backend.listBooks.bind(backend);
    backend.listBooks = (query) => new Promise((resolve) => held.push(() => void real(query).then(resolve)));
    backend.books.push(book("Arrived By Sync", ["B"]));
    backend.emitStatus({ ...onlineStatus, last_seq: 2 });
    await waitFor(() => expect(held.length).toBe(1));
    expect(screen.getByText("First")).toBeTruthy();
    held[0]();
    expect(await screen.findByText("Arrived By Sync")).toBeTruthy();
  });

  it("searches the cache as the librarian types", async () => {
    const backend = fakeBackend([book("The Quiet Harbour", ["Mira"]), book("Loud Mountains", ["Ann"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("Loud Mountains");
    await fireEvent.input(screen.getByTestId("catalogue-search"), { target: { value: "harbour" } });
    await waitFor(() => expect(screen.queryByText("Loud Mountains")).toBeNull());
    expect(screen.getByText("The Quiet Harbour")).toBeTruthy();
    expect(backend.queries).toContain("harbour");
  });

  it("filters to books with an available copy", async () => {
    const a = book("Alpha", ["A"]);
    const b = book("Beta", ["B"]);
    const backend = fakeBackend([a, b], onlineStatus, [copyOf(a, "X1", "on_loan"), copyOf(b, "X2")]);
    render(App, { backend });
    await screen.findByText("Alpha");
    await fireEvent.click(screen.getByTestId("filter-available"));
    await waitFor(() => expect(screen.queryByText("Alpha")).toBeNull());
    expect(screen.getByText("Beta")).toBeTruthy();
  });

  it("keeps the search, the branch and the Available filter across a visit to another tab", async () => {
    const harbour = book("The Quiet Harbour", ["Mira"]);
    const mountains = book("Loud Mountains", ["Ann Ray"]);
    const backend = fakeBackend([harbour, mountains], onlineStatus, [copyOf(harbour, "H1", "available", "North"), copyOf(mountains, "M1")]);
    render(App, { backend });
    await screen.findByText("Loud Mountains");
    await fireEvent.input(screen.getByTestId("catalogue-search"), { target: { value: "harbour" } });
    await fireEvent.click(screen.getByTestId("filter-available"));
    const branch = () => screen.getByTestId("filter-branch") as HTMLSelectElement;
    await waitFor(() => expect(Array.from(branch().options).map((o) => o.value)).toContain("North"));
    await fireEvent.change(branch(), { target: { value: "North" } });
    await waitFor(() => expect(screen.queryByText("Loud Mountains")).toBeNull());
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    await screen.findByTestId("outbox-empty");
    await fireEvent.click(screen.getByTestId("nav-catalogue"));
    expect(await screen.findByText("The Quiet Harbour")).toBeTruthy();
    expect((screen.getByTestId("catalogue-search") as HTMLInputElement).value).toBe("harbour");
    expect((screen.getByTestId("filter-available") as HTMLInputElement).checked).toBe(true);
    expect(branch().value).toBe("North");
    expect(screen.queryByText("Loud Mountains")).toBeNull();
    expect(backend.queries.at(-1)).toBe("harbour");
  });

  it("shows a book title that looks like HTML as plain text", async () => {
    const evil = '<img src=x onerror="window.pwned=1">';
    const backend = fakeBackend([book(evil, ["X"])], onlineStatus);
    const { container } = render(App, { backend });
    expect(await screen.findByText(evil)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
  });

  it("reloads the list when a sync moves the feed position, and syncs on request", async () => {
    const backend = fakeBackend([book("First", ["A"])], { ...onlineStatus, last_seq: 1 });
    render(App, { backend });
    await screen.findByText("First");
    backend.books.push(book("Arrived By Sync", ["B"]));
    backend.emitStatus({ ...onlineStatus, last_seq: 2 });
    expect(await screen.findByText("Arrived By Sync")).toBeTruthy();
    await fireEvent.click(screen.getByText("Sync now"));
    expect(backend.syncRequests).toBe(1);
  });

  it("shows a progress bar while a long first sync pulls pages", async () => {
    const backend = fakeBackend([], { ...onlineStatus, last_seq: 0 });
    render(App, { backend });
    await screen.findByTestId("status-connection");
    backend.emitEvent({ kind: "started" });
    backend.emitEvent({ kind: "page_pulled", changes: 1000, last_seq: 1000, server_seq: 4000 });
    const bar = (await screen.findByTestId("sync-progress")) as HTMLProgressElement;
    expect([bar.value, bar.max]).toEqual([1000, 4000]);
    backend.emitEvent({ kind: "page_pulled", changes: 1000, last_seq: 3000, server_seq: 4000 });
    await waitFor(() => expect((screen.getByTestId("sync-progress") as HTMLProgressElement).value).toBe(3000));
    backend.emitEvent({ kind: "failed", message: "network" });
    await waitFor(() => expect(screen.queryByTestId("sync-progress")).toBeNull());
  });

  it("shows pending, conflicting and failed edit counts in the status bar", async () => {
    const backend = fakeBackend([], { ...onlineStatus, pending_edits: 3, conflicts: 1, failed_edits: 2 });
    render(App, { backend });
    expect((await screen.findByTestId("status-pending")).textContent?.trim()).toBe("3 pending");
    expect(screen.getByTestId("status-conflicts").textContent?.trim()).toBe("1 in conflict");
    expect(screen.getByTestId("status-failed").textContent?.trim()).toBe("2 failed");
  });

  it("warns on the sign-in screen when plain http would carry the password to another computer", async () => {
    const backend = fakeBackend([], { ...onlineStatus, connection: "signed_out", user: null, server: null });
    render(App, { backend });
    const form = await screen.findByTestId("sign-in-form");
    const server = within(form).getByTestId("sign-in-server");
    await fireEvent.input(server, { target: { value: "http://10.0.0.5:8080" } });
    expect((await screen.findByTestId("sign-in-unencrypted")).textContent).toContain("unencrypted");
    await fireEvent.input(server, { target: { value: "library.example.org" } });
    await waitFor(() => expect(screen.queryByTestId("sign-in-unencrypted")).toBeNull());
    await fireEvent.input(server, { target: { value: "http://127.0.0.1:8080" } });
    await new Promise((r) => setTimeout(r, 10));
    expect(screen.queryByTestId("sign-in-unencrypted")).toBeNull();
  });

  it("asks to sign in when nobody is, and says plainly when the password is wrong", async () => {
    const backend = fakeBackend([book("Kept", ["A"])], { ...onlineStatus, connection: "signed_out", user: null, server: null });
    render(App, { backend });
    const form = await screen.findByTestId("sign-in-form");
    await fireEvent.input(within(form).getByTestId("sign-in-server"), { target: { value: "http://127.0.0.1:8080" } });
    await fireEvent.input(within(form).getByTestId("sign-in-user"), { target: { value: "librarian" } });
    await fireEvent.input(within(form).getByTestId("sign-in-password"), { target: { value: "wrong" } });
    await fireEvent.submit(form);
    expect((await screen.findByTestId("sign-in-error")).textContent).toBe("Wrong user name or password.");
    await fireEvent.input(within(form).getByTestId("sign-in-password"), { target: { value: "right" } });
    await fireEvent.submit(form);
    expect(await screen.findByText("Kept")).toBeTruthy();
    expect(backend.signIns).toEqual([
      { server: "http://127.0.0.1:8080", username: "librarian" },
      { server: "http://127.0.0.1:8080", username: "librarian" },
    ]);
  });

  it("signs in with the library's CA file, offered again from the last sign-in", async () => {
    const backend = fakeBackend([book("Kept", ["A"])], { ...onlineStatus, connection: "signed_out", user: null, server: null });
    backend.settings = { server_url: "https://shelfmark.example", ca_cert: "/etc/ssl/library-ca.pem" };
    render(App, { backend });
    const form = await screen.findByTestId("sign-in-form");
    await waitFor(() => expect((within(form).getByTestId("sign-in-ca-cert") as HTMLInputElement).value).toBe("/etc/ssl/library-ca.pem"));
    expect((within(form).getByTestId("sign-in-server") as HTMLInputElement).value).toBe("https://shelfmark.example");
    await fireEvent.input(within(form).getByTestId("sign-in-user"), { target: { value: "librarian" } });
    await fireEvent.input(within(form).getByTestId("sign-in-password"), { target: { value: "right" } });
    await fireEvent.submit(form);
    expect(await screen.findByText("Kept")).toBeTruthy();
    expect(backend.signIns).toEqual([{ server: "https://shelfmark.example", caCert: "/etc/ssl/library-ca.pem", username: "librarian" }]);
  });

  it("says on the sign-in screen when signing out could not tell the server", async () => {
    const backend = fakeBackend([], onlineStatus);
    backend.signOutNotice = "Signed out on this computer, but the server could not be told (offline).";
    render(App, { backend });
    await fireEvent.click(await screen.findByTestId("sign-out"));
    await fireEvent.click(await screen.findByTestId("confirm-yes"));
    const form = await screen.findByTestId("sign-in-form");
    await waitFor(() => expect(within(form).getByText(/the server could not be told/)).toBeTruthy());
  });

  it("offers nothing but signing in once signed out: no new book, barcode box or tabs, no Ctrl+N or Ctrl+K", async () => {
    const backend = fakeBackend([book("Kept", ["A"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("Kept");
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    await fireEvent.click(screen.getByTestId("new-book"));
    await screen.findByTestId("book-form");
    backend.emitStatus({ ...onlineStatus, connection: "signed_out", user: null });
    await screen.findByTestId("sign-in-form");
    await waitFor(() => expect(screen.queryByTestId("book-form")).toBeNull());
    for (const id of ["new-book", "barcode-find", "nav-catalogue", "nav-patrons", "nav-outbox", "nav-conflicts", "nav-escalations"]) {
      expect(screen.queryByTestId(id), id).toBeNull();
    }
    await fireEvent.keyDown(window, { key: "n", ctrlKey: true });
    await fireEvent.keyDown(window, { key: "k", ctrlKey: true });
    await fireEvent.keyDown(window, { key: "/" });
    expect(screen.queryByTestId("book-form")).toBeNull();
    // Signed in again, the librarian is where they were: Ctrl+K did not switch to the catalogue.
    backend.emitStatus(onlineStatus);
    expect(await screen.findByTestId("outbox-empty")).toBeTruthy();
    expect(screen.getByTestId("new-book")).toBeTruthy();
  });

  it("signs out after asking, warning that pending edits stay", async () => {
    const backend = fakeBackend([], { ...onlineStatus, pending_edits: 2 });
    render(App, { backend });
    await fireEvent.click(await screen.findByTestId("sign-out"));
    const dialog = await screen.findByTestId("confirm-dialog");
    expect(dialog.textContent).toContain("stay on this computer");
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    expect(await screen.findByTestId("sign-in-form")).toBeTruthy();
  });
});

describe("a book and its copies", () => {
  it("opens a book's copies when it is selected", async () => {
    const b = book("Signals", ["Ann"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "300012", "on_loan", "North")]);
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Signals"));
    const view = await screen.findByTestId("book-view");
    expect(within(view).getByTestId("book-title").textContent).toBe("Signals");
    const row = await within(view).findByTestId("copy-row");
    expect(row.textContent).toContain("300012");
    expect(row.textContent).toContain("North");
    expect(row.textContent).toContain("On loan");
  });

  it("refuses a new book with a wrong ISBN check digit before queuing anything", async () => {
    const backend = fakeBackend([], onlineStatus);
    render(App, { backend });
    await fireEvent.click(screen.getByTestId("new-book"));
    const form = await screen.findByTestId("book-form");
    await fireEvent.input(within(form).getByLabelText(/ISBN-13/), { target: { value: "978-0-306-40615-8" } });
    await fireEvent.input(within(form).getByLabelText(/Title/), { target: { value: "" } });
    await fireEvent.click(within(form).getByTestId("book-form-save"));
    expect((await within(form).findByTestId("error-isbn")).textContent).toContain("expected 7, found 8");
    expect(within(form).getByTestId("error-title").textContent).toContain("needs a title");
    expect(backend.books).toHaveLength(0);
  });

  it("saves a new book, selects it and marks it pending", async () => {
    const backend = fakeBackend([], onlineStatus);
    render(App, { backend });
    await fireEvent.click(screen.getByTestId("new-book"));
    const form = await screen.findByTestId("book-form");
    await fireEvent.input(within(form).getByLabelText(/ISBN-13/), { target: { value: "978-0-306-40615-7" } });
    await fireEvent.input(within(form).getByLabelText(/^Title/), { target: { value: "Brand New" } });
    await fireEvent.input(within(form).getByLabelText(/Authors/), { target: { value: "One Author\n\nTwo Author" } });
    await fireEvent.click(within(form).getByTestId("book-form-save"));
    await waitFor(() => expect(screen.queryByTestId("book-form")).toBeNull());
    expect(backend.books[0].authors).toEqual(["One Author", "Two Author"]);
    expect(backend.books[0].isbn).toBe("978-0-306-40615-7");
    expect(await screen.findByTestId("book-pending")).toBeTruthy();
  });

  it("confirms a saved book by its title, saying when offline that it goes to the server with the next sync", async () => {
    const backend = fakeBackend([], onlineStatus);
    render(App, { backend });
    await screen.findByText("Signed in as librarian");
    await fireEvent.click(screen.getByTestId("new-book"));
    let form = await screen.findByTestId("book-form");
    await fireEvent.input(within(form).getByLabelText(/ISBN-13/), { target: { value: "978-0-306-40615-7" } });
    await fireEvent.input(within(form).getByLabelText(/^Title/), { target: { value: "Brand New" } });
    await fireEvent.click(within(form).getByTestId("book-form-save"));
    expect((await screen.findByTestId("saved-notice")).textContent).toBe("Saved “Brand New”.");
    backend.emitStatus({ ...onlineStatus, connection: "offline" });
    await screen.findByText("Offline");
    await fireEvent.click(await screen.findByTestId("edit-book"));
    form = await screen.findByTestId("book-form");
    await fireEvent.input(within(form).getByLabelText(/^Title/), { target: { value: "Brand New, Revised" } });
    await fireEvent.click(within(form).getByTestId("book-form-save"));
    await waitFor(() =>
      expect(screen.getByTestId("saved-notice").textContent).toBe("Saved “Brand New, Revised”. It goes to the server with the next sync."),
    );
    expect(screen.getByTestId("saved-notice").getAttribute("role")).toBe("status");
  });

  it("offers the library's branches to pick from and shows a refused barcode by its field", async () => {
    const b = book("Signals", ["Ann"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "300012", "available", "North")]);
    backend.branches = async () => ["Hillcrest", "North"];
    backend.saveCopy = async () => {
      throw { message: "", fields: [{ field: "barcode", message: "copy 300012 of “Signals” already has this barcode" }] };
    };
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Signals"));
    await waitFor(() => expect((screen.getByTestId("filter-branch") as HTMLSelectElement).options.length).toBe(3));
    await fireEvent.click(await screen.findByTestId("add-copy"));
    const form = await screen.findByTestId("copy-form");
    const branch = within(form).getByTestId("copy-branch") as HTMLSelectElement;
    expect(branch.tagName).toBe("SELECT");
    expect([...branch.options].map((o) => o.value)).toEqual(["Hillcrest", "North"]);
    await fireEvent.input(form.querySelector("input[name=barcode]") as HTMLInputElement, { target: { value: "300012" } });
    await fireEvent.click(within(form).getByTestId("copy-form-save"));
    expect((await within(form).findByTestId("error-barcode")).textContent).toBe("copy 300012 of “Signals” already has this barcode");
    expect(screen.getByTestId("copy-form")).toBeTruthy();
  });

  it("confirms a saved copy, and takes the notice away after four seconds or at the next key", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ["setTimeout", "clearTimeout"] });
    try {
      const b = book("Signals", ["Ann"]);
      const backend = fakeBackend([b], onlineStatus, [copyOf(b, "300012", "available", "North")]);
      render(App, { backend });
      await screen.findByText("Signed in as librarian");
      await fireEvent.click(await screen.findByText("Signals"));
      const saveCopy = async () => {
        await fireEvent.click(within(await screen.findByTestId("copy-row")).getByRole("button", { name: "Edit" }));
        await fireEvent.click(within(await screen.findByTestId("copy-form")).getByTestId("copy-form-save"));
        return screen.findByTestId("saved-notice");
      };
      expect((await saveCopy()).textContent).toBe("Saved the copy of “Signals”.");
      await vi.advanceTimersByTimeAsync(3500);
      expect(screen.queryByTestId("saved-notice")).toBeTruthy();
      await vi.advanceTimersByTimeAsync(1000);
      await waitFor(() => expect(screen.queryByTestId("saved-notice")).toBeNull());
      await saveCopy();
      await fireEvent.keyDown(window, { key: "a" });
      expect(screen.queryByTestId("saved-notice")).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it("asks before deleting a book", async () => {
    const b = book("Doomed", ["A"]);
    const backend = fakeBackend([b], onlineStatus);
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Doomed"));
    await fireEvent.click(await screen.findByTestId("delete-book"));
    const dialog = await screen.findByTestId("confirm-dialog");
    expect(dialog.textContent).toContain("Delete “Doomed”");
    expect(backend.books).toHaveLength(1);
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    await waitFor(() => expect(backend.books).toHaveLength(0));
  });

  it("finds a copy by its scanned barcode", async () => {
    const b = book("Scanned Book", ["A"]);
    const backend = fakeBackend([book("Other", ["B"]), b], onlineStatus, [copyOf(b, "4711")]);
    render(App, { backend });
    const box = screen.getByTestId("barcode-find");
    await fireEvent.input(box, { target: { value: "4711" } });
    await fireEvent.submit(box.closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("book-title")).textContent).toBe("Scanned Book");
    await fireEvent.input(box, { target: { value: "0000" } });
    await fireEvent.submit(box.closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("barcode-message")).textContent).toContain("No copy has the barcode 0000");
  });

  it("takes the barcode-not-found notice away at the next scan or when dismissed", async () => {
    const b = book("Scanned Book", ["A"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "4711")]);
    render(App, { backend });
    const box = screen.getByTestId("barcode-find");
    const scan = async (code: string) => {
      await fireEvent.input(box, { target: { value: code } });
      await fireEvent.submit(box.closest("form") as HTMLFormElement);
    };
    await scan("0000");
    await screen.findByTestId("barcode-message");
    await fireEvent.input(box, { target: { value: "4" } });
    expect(screen.queryByTestId("barcode-message")).toBeNull();
    await scan("0000");
    await fireEvent.click(await screen.findByTestId("barcode-message-dismiss"));
    expect(screen.queryByTestId("barcode-message")).toBeNull();
  });

  it("focuses the search with Ctrl+K", async () => {
    const backend = fakeBackend([book("A", ["B"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("A");
    await fireEvent.keyDown(window, { key: "k", ctrlKey: true });
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("catalogue-search")));
  });
});

describe("holds", () => {
  /** The hold dialog of a book with one copy, for a premium and a regular patron. */
  async function openHoldDialog(): Promise<HTMLElement> {
    const b = book("Wanted", ["A"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "C1")]);
    backend.patrons = [
      { id: "p1", name: "Pat Premium", email: "pat@x.org", premium: true, branch: "North", card: "", notes: "" },
      { id: "p2", name: "Reg Ular", email: "reg@x.org", premium: false, branch: "North", card: "", notes: "" },
    ];
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Wanted"));
    await fireEvent.click(await screen.findByTestId("place-hold"));
    return screen.findByTestId("hold-dialog");
  }

  it("places a hold for a patron picked by name, premium patrons marked", async () => {
    const dialog = await openHoldDialog();
    const options = await within(dialog).findAllByTestId("patron-option");
    expect(options[0].textContent).toContain("premium");
    await fireEvent.input(within(dialog).getByTestId("patron-search"), { target: { value: "reg" } });
    await waitFor(() => expect(within(dialog).getAllByTestId("patron-option")).toHaveLength(1));
    await fireEvent.click(within(dialog).getByTestId("patron-option"));
    await fireEvent.click(within(dialog).getByTestId("hold-place"));
    const row = await screen.findByTestId("hold-row");
    expect(row.textContent).toContain("Reg Ular");
    expect(within(row).getByTestId("hold-outcome").textContent).toBe("Waiting to reach the server");
  });

  it("picks the only matching patron on Enter, and places the hold on the next Enter", async () => {
    const dialog = await openHoldDialog();
    const search = within(dialog).getByTestId("patron-search");
    await fireEvent.input(search, { target: { value: "reg" } });
    await waitFor(() => expect(within(dialog).getAllByTestId("patron-option")).toHaveLength(1));
    const form = search.closest("form") as HTMLFormElement;
    await fireEvent.submit(form);
    await waitFor(() => expect(within(dialog).getByTestId("patron-option").getAttribute("aria-selected")).toBe("true"));
    expect(within(dialog).queryByRole("alert")).toBeNull();
    await fireEvent.submit(form);
    const row = await screen.findByTestId("hold-row");
    expect(row.textContent).toContain("Reg Ular");
  });

  it("says plainly when a regular patron's hold is lost, and escalates a premium one", async () => {
    const b = book("Scarce", ["A"]);
    const backend = fakeBackend([b], onlineStatus, [copyOf(b, "C1", "held", "North"), copyOf(b, "C2", "on_loan", "South")]);
    const hold = (id: string, premium: boolean, lost: JsonValue) => ({
      hold: { record: holdOf({ id, patron_id: id, book_id: b.id }), etag: null, pending: true, in_conflict: false },
      patron: { id, name: premium ? "Vera Premium" : "Rob Regular", email: "x@y.org", premium, branch: "North", card: "", notes: "" },
      copy: null,
      lost,
    });
    backend.holds = [
      hold("h1", false, { patron_premium: false }),
      hold("h2", true, { patron_premium: true, escalation_id: "esc-42" }),
    ];
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Scarce"));
    const rows = await screen.findAllByTestId("hold-row");
    expect(within(rows[0]).getByTestId("hold-outcome").textContent).toBe("Not available: all copies are taken.");
    expect(rows[0].textContent).toContain("North: 0 of 1 available · South: 0 of 1 available");
    expect(within(rows[1]).getByTestId("hold-outcome").textContent).toBe("Not available: the manager has been told (see Escalations) and will contact the patron.");
  });
});

describe("cancelling a hold", () => {
  /** A book whose holds, active on the server, have these copies (or none yet). */
  async function bookWithHolds(copies: (Copy | null)[]) {
    const b = book("Wanted", ["A"]);
    const backend = fakeBackend([b], onlineStatus, copies.filter((c) => c !== null));
    backend.holds = copies.map((copy, i) => ({
      hold: { record: holdOf({ id: `h${i}`, patron_id: `p${i}`, book_id: b.id, copy_id: copy?.id ?? null }), etag: '"1"', pending: false, in_conflict: false },
      patron: { id: `p${i}`, name: `Patron ${i}`, email: "x@y.org", premium: false, branch: "North", card: "", notes: "" },
      copy,
      lost: null,
    }));
    render(App, { backend });
    await fireEvent.click(await screen.findByText("Wanted"));
    const rows = await screen.findAllByTestId("hold-row");
    /** Asks to cancel the hold of row `i`; the dialog that asks. */
    const ask = async (i: number) => {
      await fireEvent.click(within(rows[i]).getByRole("button", { name: "Cancel" }));
      return screen.findByTestId("confirm-dialog");
    };
    return { backend, ask };
  }

  it("says the held copy goes back on the shelf, and keeps the hold on Keep the hold", async () => {
    const b = book("Wanted", ["A"]);
    const { backend, ask } = await bookWithHolds([copyOf(b, "B123", "held")]);
    const dialog = await ask(0);
    expect(dialog.querySelector("p")?.textContent).toBe("Cancel the hold of Patron 0? Copy B123 goes back on the shelf as available.");
    expect(within(dialog).getByTestId("confirm-yes").textContent).toBe("Cancel the hold");
    await fireEvent.click(within(dialog).getByRole("button", { name: "Keep the hold" }));
    await waitFor(() => expect(screen.queryByTestId("confirm-dialog")).toBeNull());
    expect(backend.holds).toHaveLength(1);
  });

  it("says a copy on loan stays on loan, and nothing of a copy when the hold has none yet", async () => {
    const b = book("Wanted", ["A"]);
    const { backend, ask } = await bookWithHolds([copyOf(b, "B123", "on_loan"), null]);
    let dialog = await ask(0);
    expect(dialog.querySelector("p")?.textContent).toBe("Cancel the hold of Patron 0? Copy B123 stays on loan.");
    await fireEvent.click(within(dialog).getByTestId("confirm-no"));
    await waitFor(() => expect(screen.queryByTestId("confirm-dialog")).toBeNull());
    dialog = await ask(1);
    expect(dialog.querySelector("p")?.textContent).toBe("Cancel the hold of Patron 1?");
    await fireEvent.click(within(dialog).getByRole("button", { name: "Cancel the hold" }));
    await waitFor(() => expect(backend.holds.map((h) => h.hold.record.id)).toEqual(["h0"]));
  });
});

describe("the outbox", () => {
  const failed: OutboxEntry = {
    seq: 7,
    kind: "book",
    record_id: "id-x",
    op: "update",
    base_etag: '"3"',
    base: { title: "Old" },
    body: { title: "Refused Title" },
    state: "failed",
    problem: { title: "Forbidden", detail: "librarians cannot do this" },
    attempts: 1,
    created_at: "2026-11-22T10:00:00Z",
    author: "librarian",
    outcome: null,
    label: "book “Refused Title”",
  };

  it("lists a failed edit with the server's message, and retries it", async () => {
    const backend = fakeBackend([], { ...onlineStatus, failed_edits: 1 });
    backend.entries = [failed];
    render(App, { backend });
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    const entry = await screen.findByTestId("outbox-entry");
    expect(entry.textContent).toContain("Edit of book “Refused Title”");
    expect(within(entry).getByTestId("outbox-problem").textContent).toContain("librarians cannot do this");
    await fireEvent.click(within(entry).getByText("Retry"));
    await waitFor(() => expect(backend.entries[0].state).toBe("pending"));
  });

  it("names the records of the waiting edits, shows lost holds apart, and never an id", async () => {
    const backend = fakeBackend([], onlineStatus);
    const hold = (seq: number, state: "pending" | "lost", outcome: JsonValue): OutboxEntry => ({
      ...failed, seq, kind: "hold", op: "create", base_etag: null, base: null, problem: null,
      record_id: "01a233cb-0000-7000-8000-000000000001", body: { patron_id: "p-uuid", book_id: "b-uuid" },
      state, outcome, label: "hold for Ada Lovelace on “The Long Way”",
    });
    backend.entries = [hold(1, "pending", null), hold(2, "lost", { patron_premium: true })];
    render(App, { backend });
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    const waiting = await screen.findByTestId("outbox-waiting");
    expect(within(waiting).getAllByTestId("outbox-entry").map((e) => e.querySelector(".what")?.textContent))
      .toEqual(["New hold for Ada Lovelace on “The Long Way”"]);
    const lost = screen.getByTestId("lost-hold");
    expect(screen.getByTestId("outbox-lost").previousElementSibling?.textContent).toBe("Holds the server could not fill");
    expect(lost.textContent).toContain("Hold for Ada Lovelace on “The Long Way”");
    expect(lost.textContent).toContain("the manager has been told");
    expect(document.body.textContent).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it("says whose edits wait on a shared computer, and offers a librarian no way to discard them", async () => {
    const librarian = fakeBackend([], onlineStatus);
    librarian.otherStaff = [{ user: "bram", edits: 2 }];
    const view = render(App, { backend: librarian });
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    const row = await screen.findByTestId("other-staff");
    expect(row.textContent).toContain("bram: 2 edits waiting");
    expect(row.textContent).toContain("when bram signs in here again");
    await screen.findByText("Signed in as librarian");
    expect(within(row).queryByText("Discard")).toBeNull();
    view.unmount();
  });

  it("lets a manager discard the edits another user left on the computer", async () => {
    const manager = fakeBackend([], { ...onlineStatus, user: "manager", role: "manager" });
    manager.otherStaff = [{ user: "bram", edits: 2 }];
    render(App, { backend: manager });
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    await fireEvent.click(await within(await screen.findByTestId("other-staff")).findByText("Discard"));
    const dialog = await screen.findByTestId("confirm-dialog");
    expect(dialog.textContent).toContain("Discard the 2 edits bram left on this computer?");
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    await waitFor(() => expect(screen.queryByTestId("other-staff")).toBeNull());
    expect(manager.otherStaff).toEqual([]);
  });

  it("asks before discarding an edit", async () => {
    const backend = fakeBackend([], onlineStatus);
    backend.entries = [failed];
    render(App, { backend });
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    await fireEvent.click(within(await screen.findByTestId("outbox-entry")).getByText("Discard"));
    const dialog = await screen.findByTestId("confirm-dialog");
    expect(backend.entries).toHaveLength(1);
    await fireEvent.click(within(dialog).getByTestId("confirm-yes"));
    expect(await screen.findByTestId("outbox-empty")).toBeTruthy();
  });
});

describe("times", () => {
  it("writes the outbox's and the conflicts' times like the escalations, and the last sync as a short time of day", async () => {
    const at = "2026-11-22T10:00:00Z";
    const backend = fakeBackend([], { ...onlineStatus, last_sync: at, conflicts: 1 });
    backend.entries = [{ seq: 1, kind: "book", record_id: "b", op: "update", base_etag: null, base: null, body: { title: "T" }, state: "pending", problem: null, attempts: 0, created_at: at, author: null, outcome: null, label: "book “T”" }];
    const conflict: ConflictSummary = { seq: 2, kind: "book", record_id: "b", label: "T", reason: "edit-conflict", detail: null, existing_id: null, created_at: at };
    backend.inbox = [conflict];
    render(App, { backend });
    const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(at));
    const time = new Intl.DateTimeFormat(undefined, { timeStyle: "short" }).format(new Date(at));
    expect((await screen.findByTestId("status-last-sync")).textContent).toBe(`last sync ${time}`);
    await fireEvent.click(screen.getByTestId("nav-outbox"));
    expect((await screen.findByTestId("outbox-entry")).querySelector(".when")?.textContent).toBe(when);
    await fireEvent.click(screen.getByTestId("nav-conflicts"));
    expect((await screen.findByTestId("conflict-entry")).querySelector(".when")?.textContent).toBe(when);
  });
});
