// Svelte actions for what the strict CSP forbids as inline `style` attributes: sizes and
// offsets are set through the CSSOM (element.style), which the CSP allows.
export function box(node: HTMLElement, size: { height?: number; top?: number }) {
  const apply = (s: { height?: number; top?: number }) => {
    if (s.height !== undefined) node.style.height = `${s.height}px`;
    if (s.top !== undefined) node.style.transform = `translateY(${s.top}px)`;
  };
  apply(size);
  return { update: apply };
}

/** Opens the <dialog> as a modal when mounted. */
export function modal(node: HTMLDialogElement) {
  if (!node.open) node.showModal();
}
