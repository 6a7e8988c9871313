// Words the escalation screen shows for statuses and times.
import type { EscalationStatus } from "./backend";
import { formatWhen } from "./format";

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
  return rfc3339 ? formatWhen(rfc3339) : "";
}
