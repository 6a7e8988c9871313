// Words the escalation screen shows for statuses and times.
import type { EscalationStatus } from "./backend";

const labels: Record<EscalationStatus, string> = {
  open: "open",
  reassigned: "copy reassigned",
  purchase_flagged: "purchase flagged",
  resolved: "resolved",
};

export function statusLabel(status: EscalationStatus): string {
  return labels[status] ?? status;
}

/** A server time as the desk reads it ("22 Nov 2026, 10:00"). */
export function when(rfc3339: string | null | undefined): string {
  if (!rfc3339) return "";
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
