// How the app writes times: every screen shows a date and time the same way ("22 Nov 2026,
// 10:00" in a British locale, "Nov 22, 2026, 10:00 AM" in an American one), and the status
// bar's time of day in the same short style, and a day alone (a due date, the last day a hold
// waits) in the same medium style ("22 Nov 2026").

const when = { dateStyle: "medium", timeStyle: "short" } as const;
const time = { timeStyle: "short" } as const;
const day = { dateStyle: "medium" } as const;

function parsed(rfc3339: string): Date | null {
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A server time with its date, in the desk's locale; the text unchanged if it is no time. */
export function formatWhen(rfc3339: string): string {
  return parsed(rfc3339)?.toLocaleString(undefined, when) ?? rfc3339;
}

/** The time of day of a server time, in the desk's locale; the text unchanged if it is no time. */
export function formatTime(rfc3339: string): string {
  return parsed(rfc3339)?.toLocaleTimeString(undefined, time) ?? rfc3339;
}

/** The day of a server time, in the desk's locale; the text unchanged if it is no time. */
export function formatDay(rfc3339: string): string {
  return parsed(rfc3339)?.toLocaleDateString(undefined, day) ?? rfc3339;
}
