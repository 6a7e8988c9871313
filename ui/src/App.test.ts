import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen, fireEvent, waitFor } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, fakeBackend, onlineStatus } from "./lib/fake-backend";

afterEach(cleanup);

describe("the catalogue window", () => {
  it("lists the cached books with authors, year and availability", async () => {
    const backend = fakeBackend(
      [book("The Quiet Harbour", ["Mira Solberg", "Tom Hale"], 1, 3), book("Loud Mountains", ["Ann Ray"], 0, 1)],
      onlineStatus,
    );
    render(App, { backend });
    expect(await screen.findByText("The Quiet Harbour")).toBeTruthy();
    expect(screen.getByText("Mira Solberg, Tom Hale")).toBeTruthy();
    expect(screen.getByText("1 of 3 available")).toBeTruthy();
    expect(screen.getByText("0 of 1 available")).toBeTruthy();
    expect(await screen.findByText("Signed in as librarian")).toBeTruthy();
    expect(screen.getByTestId("status-connection").textContent?.trim()).toBe("Online");
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

  it("shows a book title that looks like HTML as plain text", async () => {
    const evil = '<img src=x onerror="window.pwned=1">';
    const backend = fakeBackend([book(evil, ["X"])], onlineStatus);
    const { container } = render(App, { backend });
    expect(await screen.findByText(evil)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
  });

  it("reloads the list when a sync moves the feed position, and syncs on request", async () => {
    const books = [book("First", ["A"])];
    const backend = fakeBackend(books, { ...onlineStatus, last_seq: 1 });
    render(App, { backend });
    await screen.findByText("First");
    books.push(book("Arrived By Sync", ["B"]));
    backend.emitStatus({ ...onlineStatus, last_seq: 2 });
    expect(await screen.findByText("Arrived By Sync")).toBeTruthy();
    await fireEvent.click(screen.getByText("Sync now"));
    expect(backend.syncRequests).toBe(1);
  });

  it("shows pending, conflicting and failed edit counts in the status bar", async () => {
    const backend = fakeBackend([], { ...onlineStatus, pending_edits: 3, conflicts: 1, failed_edits: 2 });
    render(App, { backend });
    expect((await screen.findByTestId("status-pending")).textContent?.trim()).toBe("3 pending");
    expect(screen.getByTestId("status-conflicts").textContent?.trim()).toBe("1 in conflict");
    expect(screen.getByTestId("status-failed").textContent?.trim()).toBe("2 failed");
  });

  it("says so when no server is configured", async () => {
    const backend = fakeBackend([], { ...onlineStatus, connection: "not_configured", user: null, server: null });
    render(App, { backend });
    expect(await screen.findByText("No server configured")).toBeTruthy();
    expect(await screen.findByTestId("catalogue-empty")).toBeTruthy();
  });
});
