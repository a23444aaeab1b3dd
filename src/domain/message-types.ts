/**
 * Business message types in a thread (DESIGN.md, domain). A `request` opens a thread; the others
 * follow it, per the thread state machine.
 */
export const MESSAGE_TYPES = [
  "request",
  "acknowledgement",
  "clarification-request",
  "clarification",
  "status-inquiry",
  "status-update",
  "consultation",
  "postponement",
  "refusal",
  "execution",
  "withdrawal",
] as const;

export type MessageType = (typeof MESSAGE_TYPES)[number];
