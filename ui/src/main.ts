import { mount } from "svelte";
import App from "./App.svelte";
import { tauriBackend } from "./lib/backend";
import "./app.css";

// Errors the page meets are kept for diagnosis (the end-to-end tests assert there are none).
declare global {
  interface Window {
    __shelfmarkErrors: string[];
  }
}
window.__shelfmarkErrors = [];
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) => {
  window.__shelfmarkErrors.push(args.map(String).join(" "));
  consoleError(...args);
};
window.addEventListener("error", (e) => window.__shelfmarkErrors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__shelfmarkErrors.push(String(e.reason)));

const target = document.getElementById("app");
if (!target) throw new Error("index.html has no #app element");

export default mount(App, { target, props: { backend: tauriBackend } });
