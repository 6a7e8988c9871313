// What jsdom lacks and the screens use, for every UI test (vite.config.ts `setupFiles`).
// jsdom lays nothing out: no ResizeObserver (bind:clientHeight uses it), no sizes.
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
};

// jsdom has no <dialog> modal support: opening one marks it open.
HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
  this.setAttribute("open", "");
};
