// The choices of merges the librarian saved, by outbox entry: if the server moved again while
// the result was on its way, the conflict comes back and its screen starts from these.
import type { Settled } from "./backend";

export const rememberedChoices = new Map<number, Settled[]>();
