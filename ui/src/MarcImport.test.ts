import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, fakeBackend, onlineStatus } from "./lib/fake-backend";
import type { ImportPreview } from "./lib/backend";

afterEach(cleanup);

const harbour = book("The Quiet Harbour", ["Mira Solberg"]);

function vendorBatch(): ImportPreview {
  return {
    new: [
      { ...book("Tidal Atlas", ["Ann Ray"]), id: "tidal", isbn: "9780306406157", year: 2019 },
      { ...book("Old Sermons", ["A. Parson"]), id: "sermons", isbn: "" },
    ],
    known: [{ position: 2, title: "The Quiet Harbour", isbn: harbour.isbn, existing: harbour.id }],
    rejected: [{ position: 4, control_number: "ocm0042", reason: "the record has no title (245 $a)" }],
  };
}

describe("Import MARC…", () => {
  it("previews the chosen file (new, already in the catalogue, rejected and why) and writes nothing before Import", async () => {
    const backend = fakeBackend([harbour], onlineStatus);
    backend.chosenMarcFile = "/home/desk/vendor-batch.mrc";
    backend.marcFiles.set("/home/desk/vendor-batch.mrc", vendorBatch());
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await fireEvent.click(screen.getByTestId("import-marc"));
    const dialog = await screen.findByTestId("marc-import");
    expect(within(dialog).getByText(/vendor-batch\.mrc/)).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("marc-import-new").textContent).toBe("2"));
    expect(screen.getByTestId("marc-import-known").textContent).toBe("1");
    expect(screen.getByTestId("marc-import-rejected").textContent).toBe("1");
    expect(within(screen.getByTestId("marc-import-new-list")).getByText("Tidal Atlas")).toBeTruthy();
    expect(within(screen.getByTestId("marc-import-new-list")).getByText(/no ISBN/)).toBeTruthy();
    expect(screen.getByTestId("marc-import-rejected-list").textContent).toContain("Record 4 (ocm0042):");
    expect(screen.getByTestId("marc-import-rejected-list").textContent).toContain("no title");
    expect(screen.getByTestId("marc-import-confirm").textContent?.trim()).toBe("Import 2 books");
    expect(backend.marcImports).toEqual([]);
    expect(backend.books).toHaveLength(1);
  });

  it("queues the new books with a progress bar, then says they go to the server at the next sync and lists them pending", async () => {
    const backend = fakeBackend([harbour], onlineStatus);
    backend.chosenMarcFile = "/home/desk/vendor-batch.mrc";
    backend.marcFiles.set("/home/desk/vendor-batch.mrc", vendorBatch());
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await fireEvent.click(screen.getByTestId("import-marc"));
    await waitFor(() => expect(screen.getByTestId("marc-import-new").textContent).toBe("2"));
    await fireEvent.click(screen.getByTestId("marc-import-confirm"));
    const done = await screen.findByTestId("marc-import-done");
    expect(done.textContent).toMatch(/2 books queued/);
    expect(done.textContent).toMatch(/next sync/);
    expect(done.textContent).toMatch(/1 book already in the catalogue/);
    expect(backend.marcImports).toEqual(["/home/desk/vendor-batch.mrc"]);
    await fireEvent.click(screen.getByTestId("marc-import-close"));
    expect(screen.queryByTestId("marc-import")).toBeNull();
    const row = (await screen.findByText("Tidal Atlas")).closest("li");
    expect(row && within(row).getByText("pending")).toBeTruthy();
    expect(screen.getByTestId("catalogue-count").textContent).toBe("3 books");
  });

  it("opens nothing when the file chooser is cancelled", async () => {
    const backend = fakeBackend([harbour], onlineStatus);
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await fireEvent.click(screen.getByTestId("import-marc"));
    await new Promise((r) => setTimeout(r, 10));
    expect(screen.queryByTestId("marc-import")).toBeNull();
  });

  it("says why a file that is not MARC cannot be imported, and offers nothing to import", async () => {
    const backend = fakeBackend([harbour], onlineStatus);
    backend.chosenMarcFile = "/home/desk/notes.txt";
    backend.marcFiles.set("/home/desk/notes.txt", "/home/desk/notes.txt: not a MARC file: it starts with neither a record length nor XML");
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await fireEvent.click(screen.getByTestId("import-marc"));
    const error = await screen.findByTestId("marc-import-error");
    expect(error.textContent).toContain("not a MARC file");
    expect(screen.queryByTestId("marc-import-confirm")).toBeNull();
    await fireEvent.click(screen.getByTestId("marc-import-close"));
    expect(screen.queryByTestId("marc-import")).toBeNull();
  });
});
