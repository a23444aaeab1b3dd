/**
 * The thread state machine (DESIGN.md, domain): which message may follow which, and from which
 * side. The requester is the authority that sent the `request` opening the thread; the requested
 * authority is its recipient. A message that breaks the table is refused with THREAD_INVALID and
 * a reason, at the sender before sealing and at the receiver with a rejected receipt.
 *
 * | state                 | requesting authority may send          | requested authority may send                                  |
 * |-----------------------|----------------------------------------|---------------------------------------------------------------|
 * | requested             | status-inquiry (=), withdrawal → W     | acknowledgement → acknowledged                                |
 * | acknowledged          | status-inquiry (=), withdrawal → W     | status-update (=), clarification-request → clarification-pending, consultation → consultation, execution → E |
 * | in-execution          | as acknowledged                        | as acknowledged                                               |
 * | clarification-pending | clarification → in-execution, status-inquiry (=), withdrawal → W | clarification-request (=), status-update (=), consultation → consultation |
 * | consultation          | consultation (=), status-inquiry (=), withdrawal → W | consultation (=), status-update (=), clarification-request → clarification-pending, postponement → postponed, refusal → refused, execution → E |
 * | postponed             | status-inquiry (=), withdrawal → W     | postponement (=), status-update (=), clarification-request → clarification-pending, consultation → consultation, execution → E |
 * | executed-partially    | status-inquiry (=), withdrawal → W     | status-update (=), clarification-request → clarification-pending, consultation → consultation, execution → E |
 * | executed, refused, withdrawn | nothing                         | nothing                                                       |
 *
 * (=) the state does not change; W = withdrawn; E = executed-partially for a `partial` execution,
 * executed for a `final` one.
 *
 * Why:
 * - The requested authority speaks first with an acknowledgement (registration, its case number).
 * - UNTOC 18(26): before refusing (18(21)) or postponing (18(25)) it consults the requesting
 *   State, so refusal and postponement are allowed only in `consultation` (a postponement may be
 *   extended from `postponed`). mlax applies this to every kind of request (16(16) asks the same
 *   for extradition "where appropriate"); a short consultation suffices.
 * - Only the requesting authority withdraws, asks for status (18(24)) and answers a
 *   clarification-request (the answer resumes execution, `in-execution`). While a clarification
 *   is pending the requested authority waits for it (no execution), but it may open a
 *   consultation, which supersedes the pending question.
 * - Consultation is opened by the requested authority; the requesting authority answers in it.
 * - Terminal states refuse everything, status-inquiry included: the last message is the answer,
 *   a status-update could not follow it, and a follow-up is a new request.
 * - `request` never appears inside a thread: it opens one (replayThread).
 *
 * Feed replayThread only the messages that were accepted (sent and answered with an accepted
 * receipt, or received and accepted): when two messages cross (a withdrawal and a refusal), the
 * one the other side rejects is not part of the thread.
 */
import { InputError, MlaxError } from "../errors.ts";
import { MESSAGE_TYPES, type MessageType } from "./message-types.ts";

export const THREAD_STATES = [
  "requested",
  "acknowledged",
  "clarification-pending",
  "in-execution",
  "consultation",
  "postponed",
  "executed-partially",
  "executed",
  "refused",
  "withdrawn",
] as const;
export type ThreadState = (typeof THREAD_STATES)[number];

export const TERMINAL_THREAD_STATES: readonly ThreadState[] = ["executed", "refused", "withdrawn"];

export type ThreadSide = "requester" | "requested";

/** A message as the state machine sees it; `body` is read only for `execution` (completeness). */
export interface ThreadEvent {
  readonly type: MessageType;
  readonly fromRequester: boolean;
  readonly body?: unknown;
}

export interface ThreadMessage {
  readonly type: MessageType;
  readonly from: string;
  readonly to: string;
  readonly body?: unknown;
}

type Next = ThreadState | "unchanged" | "by-completeness";
type Moves = Readonly<Partial<Record<MessageType, Next>>>;
type Rules = Readonly<Record<ThreadSide, Moves>>;

const REQUESTER_OPEN: Moves = { "status-inquiry": "unchanged", withdrawal: "withdrawn" };
const REQUESTED_WORKING: Moves = {
  "status-update": "unchanged",
  "clarification-request": "clarification-pending",
  consultation: "consultation",
  execution: "by-completeness",
};
const CLOSED: Rules = { requester: {}, requested: {} };

/** The table above, as data. */
const TABLE: Readonly<Record<ThreadState, Rules>> = {
  requested: { requester: REQUESTER_OPEN, requested: { acknowledgement: "acknowledged" } },
  acknowledged: { requester: REQUESTER_OPEN, requested: REQUESTED_WORKING },
  "in-execution": { requester: REQUESTER_OPEN, requested: REQUESTED_WORKING },
  "clarification-pending": {
    requester: { ...REQUESTER_OPEN, clarification: "in-execution" },
    requested: {
      "clarification-request": "unchanged",
      "status-update": "unchanged",
      consultation: "consultation",
    },
  },
  consultation: {
    requester: { ...REQUESTER_OPEN, consultation: "unchanged" },
    requested: {
      ...REQUESTED_WORKING,
      consultation: "unchanged",
      postponement: "postponed",
      refusal: "refused",
    },
  },
  postponed: {
    requester: REQUESTER_OPEN,
    requested: { ...REQUESTED_WORKING, postponement: "unchanged" },
  },
  "executed-partially": { requester: REQUESTER_OPEN, requested: REQUESTED_WORKING },
  executed: CLOSED,
  refused: CLOSED,
  withdrawn: CLOSED,
};

const SIDE_NAME: Record<ThreadSide, string> = {
  requester: "requesting authority",
  requested: "requested authority",
};

export function isTerminalThreadState(state: ThreadState): boolean {
  return TERMINAL_THREAD_STATES.includes(state);
}

function assertState(state: unknown): asserts state is ThreadState {
  if (typeof state !== "string" || !(THREAD_STATES as readonly string[]).includes(state)) {
    throw new MlaxError("INTERNAL", `unknown thread state ${JSON.stringify(state)}`);
  }
}

/** The message types `side` may send while the thread is in `state`, in MESSAGE_TYPES order. */
export function allowedMessages(state: ThreadState, fromRequester: boolean): MessageType[] {
  assertState(state);
  const moves = TABLE[state][fromRequester ? "requester" : "requested"];
  return MESSAGE_TYPES.filter((t) => moves[t] !== undefined);
}

function executionCompleteness(body: unknown): "partial" | "final" {
  const c =
    typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).completeness
      : undefined;
  if (c === "partial" || c === "final") return c;
  throw new InputError(
    "INPUT_INVALID",
    'an execution must say whether it is "partial" or "final" (body.completeness)',
  );
}

function everSentBy(type: MessageType, side: ThreadSide): boolean {
  return THREAD_STATES.some((s) => TABLE[s][side][type] !== undefined);
}

/** Why `type` from `side` is refused in `state`: the specific rule first, then the general one. */
function refusalReason(state: ThreadState, type: MessageType, side: ThreadSide): string {
  const who = SIDE_NAME[side];
  if (type === "request") return "a request opens a new thread; it cannot be sent inside one";
  if (isTerminalThreadState(state)) return `the thread is ${state}: it accepts no further message`;
  if (!everSentBy(type, side)) {
    const other = side === "requester" ? "requested" : "requester";
    return `only the ${SIDE_NAME[other]} sends ${type}`;
  }
  if (side === "requested" && state === "requested") {
    return "the requested authority must first acknowledge the request";
  }
  if (type === "acknowledgement") return "the request is already acknowledged";
  if (type === "refusal" || type === "postponement") {
    return `consult the requesting authority first (UNTOC 18(26)): a ${type} follows a consultation`;
  }
  if (type === "clarification") {
    return "no clarification is pending: a clarification answers a clarification-request";
  }
  if (type === "consultation" && side === "requester") {
    return "the requesting authority answers a consultation; only the requested authority opens one";
  }
  if (state === "clarification-pending") {
    return `a clarification is pending: the ${who} waits for the answer (or opens a consultation) before sending ${type}`;
  }
  return `${type} from the ${who} is not allowed while the thread is ${state}`;
}

/**
 * The state after `event` in `state`, or MlaxError THREAD_INVALID with a reason (and `details`:
 * state, type, side, allowed). An execution's body must carry `completeness`.
 */
export function nextThreadState(state: ThreadState, event: ThreadEvent): ThreadState {
  assertState(state);
  const side: ThreadSide = event.fromRequester ? "requester" : "requested";
  const next = TABLE[state][side][event.type];
  if (next === undefined) {
    const allowed = allowedMessages(state, event.fromRequester);
    const reason = refusalReason(state, event.type, side);
    throw new MlaxError(
      "THREAD_INVALID",
      allowed.length > 0
        ? `${reason} (the ${SIDE_NAME[side]} may send: ${allowed.join(", ")})`
        : reason,
      { details: { state, type: event.type, side, allowed } },
    );
  }
  if (next === "unchanged") return state;
  if (next === "by-completeness") {
    return executionCompleteness(event.body) === "final" ? "executed" : "executed-partially";
  }
  return next;
}

/**
 * The state of a thread from its messages in order: the first is the `request` from `requester`
 * to the requested authority; every other one goes between these two, either way. Throws
 * THREAD_INVALID (details.index = the offending message) when a message breaks the table.
 */
export function replayThread(messages: readonly ThreadMessage[], requester: string): ThreadState {
  const first = messages[0];
  if (first === undefined) {
    throw new MlaxError("THREAD_INVALID", "a thread starts with a request; it has no message", {
      details: { index: 0 },
    });
  }
  if (first.type !== "request" || first.from !== requester || first.to === requester) {
    throw new MlaxError(
      "THREAD_INVALID",
      `a thread starts with a request from ${requester} to another authority; got ${first.type} from ${first.from} to ${first.to}`,
      { details: { index: 0 } },
    );
  }
  const requested = first.to;
  let state: ThreadState = "requested";
  messages.slice(1).forEach((m, i) => {
    const index = i + 1;
    const forward = m.from === requester && m.to === requested;
    const backward = m.from === requested && m.to === requester;
    if (!forward && !backward) {
      throw new MlaxError(
        "THREAD_INVALID",
        `message ${index} goes from ${m.from} to ${m.to}, outside the thread between ${requester} and ${requested}`,
        { details: { index } },
      );
    }
    try {
      state = nextThreadState(state, { type: m.type, fromRequester: forward, body: m.body });
    } catch (e) {
      if (e instanceof MlaxError) {
        const ctor = e.constructor as typeof MlaxError;
        throw new ctor(e.code, `message ${index}: ${e.message}`, {
          cause: e,
          details: { ...e.details, index },
        });
      }
      throw e;
    }
  });
  return state;
}
