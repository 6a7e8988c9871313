// ISBN-13 check digits, for the form's instant feedback. The Rust side (shelfmark-core) checks
// again on save; this only spares a round trip while typing. A book may have no ISBN (many older
// books have none), so an empty field is no problem.
export function isbnProblem(raw: string): string | null {
  const s = raw.replace(/[-\s]/g, "");
  if (s === "") return null;
  if (!/^\d+$/.test(s)) return "an ISBN-13 contains only digits (and optional hyphens)";
  if (s.length !== 13) return `an ISBN-13 has 13 digits, this has ${s.length}`;
  if (!s.startsWith("978") && !s.startsWith("979")) return "an ISBN-13 starts with 978 or 979";
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(s[i]) * (i % 2 === 0 ? 1 : 3);
  const expected = (10 - (sum % 10)) % 10;
  if (expected !== Number(s[12])) return `the check digit is wrong: expected ${expected}, found ${s[12]}`;
  return null;
}
