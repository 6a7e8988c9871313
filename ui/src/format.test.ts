import { describe, expect, it } from "vitest";
import { formatDay, formatTime, formatWhen } from "./lib/format";
import { when } from "./lib/escalation-text";

// The expected texts come from Intl in the locale and time zone the tests run in.
const at = "2026-11-22T10:00:00Z";
const medium = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const short = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

describe("the app's one way of writing times", () => {
  it("writes a server time as a medium date and a short time of day, without seconds", () => {
    expect(formatWhen(at)).toBe(medium.format(new Date(at)));
    expect(formatWhen(at)).toContain("2026");
    expect(formatWhen(at)).not.toContain(":00:00");
  });

  it("writes the time of day alone in the same short style", () => {
    expect(formatTime(at)).toBe(short.format(new Date(at)));
    expect(formatTime(at)).not.toContain("2026");
    expect(formatWhen(at)).toContain(formatTime(at));
  });

  it("writes a day alone in the same medium style, without the time of day", () => {
    expect(formatDay(at)).toBe(day.format(new Date(at)));
    expect(formatWhen(at)).toContain(formatDay(at));
    expect(formatDay(at)).not.toContain(formatTime(at));
  });

  it("gives back unchanged a text that is no time", () => {
    expect(formatWhen("not yet")).toBe("not yet");
    expect(formatTime("not yet")).toBe("not yet");
    expect(formatDay("not yet")).toBe("not yet");
    expect(formatWhen("")).toBe("");
  });

  it("is the format the escalation screens use, which write nothing for no time", () => {
    expect(when(at)).toBe(formatWhen(at));
    expect(when(null)).toBe("");
    expect(when("soon")).toBe("soon");
  });
});
