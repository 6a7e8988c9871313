import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import App from "./App.svelte";
import { book, fakeBackend, onlineStatus } from "./lib/fake-backend";

afterEach(cleanup);

describe("the About box", () => {
  it("names the version, the server and the folder of the log files, what support asks for", async () => {
    const backend = fakeBackend([book("The Quiet Harbour", ["Mira"])], onlineStatus);
    render(App, { backend });
    await screen.findByText("The Quiet Harbour");
    await fireEvent.click(await screen.findByTestId("about"));
    const dialog = await screen.findByTestId("about-dialog");
    await waitFor(() => expect(dialog.querySelector("h2")?.textContent).toBe("Shelfmark 0.1.0"));
    expect(screen.getByTestId("about-server").textContent).toBe(onlineStatus.server);
    expect(screen.getByTestId("about-log").textContent).toBe("/home/desk/.local/state/org.shelfmark.desktop");
    await fireEvent.click(screen.getByTestId("about-close"));
    expect(screen.queryByTestId("about-dialog")).toBeNull();
  });
});
