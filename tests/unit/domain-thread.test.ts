import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MESSAGE_TYPES, type MessageType } from "../../src/domain/message-types.ts";
import {
  allowedMessages,
  nextThreadState,
  replayThread,
  THREAD_STATES,
  type ThreadMessage,
  type ThreadState,
} from "../../src/domain/thread.ts";
import { isMlaxError } from "../../src/errors.ts";

type Side = "R" | "Q"; // R: requesting authority, Q: requested authority
const PARTIAL = { completeness: "partial" };
const FINAL = { completeness: "final" };

/**
 * Every allowed transition, written out independently of src/domain/thread.ts:
 * [state, side, type, body?, next]. Anything not listed must be refused.
 */
const ALLOWED: [ThreadState, Side, MessageType, unknown, ThreadState][] = [];
function allow(states: ThreadState[], side: Side, type: MessageType, next: ThreadState | "=") {
  for (const s of states) {
    if (type === "execution") {
      ALLOWED.push([s, side, type, PARTIAL, "executed-partially"]);
      ALLOWED.push([s, side, type, FINAL, "executed"]);
    } else {
      ALLOWED.push([s, side, type, undefined, next === "=" ? s : next]);
    }
  }
}
const OPEN: ThreadState[] = [
  "requested",
  "acknowledged",
  "clarification-pending",
  "in-execution",
  "consultation",
  "postponed",
  "executed-partially",
];
const WORKING: ThreadState[] = [
  "acknowledged",
  "in-execution",
  "consultation",
  "postponed",
  "executed-partially",
];
allow(OPEN, "R", "status-inquiry", "=");
allow(OPEN, "R", "withdrawal", "withdrawn");
allow(["clarification-pending"], "R", "clarification", "in-execution");
allow(["consultation"], "R", "consultation", "=");
allow(["requested"], "Q", "acknowledgement", "acknowledged");
allow([...WORKING, "clarification-pending"], "Q", "status-update", "=");
allow(
  ["acknowledged", "in-execution", "consultation", "postponed", "executed-partially"],
  "Q",
  "clarification-request",
  "clarification-pending",
);
allow(["clarification-pending"], "Q", "clarification-request", "=");
allow(
  ["acknowledged", "in-execution", "clarification-pending", "postponed", "executed-partially"],
  "Q",
  "consultation",
  "consultation",
);
allow(["consultation"], "Q", "consultation", "=");
allow(WORKING, "Q", "execution", "executed");
allow(["consultation"], "Q", "postponement", "postponed");
allow(["postponed"], "Q", "postponement", "=");
allow(["consultation"], "Q", "refusal", "refused");

function isAllowed(state: ThreadState, side: Side, type: MessageType): boolean {
  return ALLOWED.some(([s, sd, t]) => s === state && sd === side && t === type);
}

function threadInvalid(e: unknown): boolean {
  return isMlaxError(e) && e.code === "THREAD_INVALID" && e.status === 422;
}

describe("thread state machine", () => {
  it("allows every transition of the table, to the documented state", () => {
    assert.equal(ALLOWED.length, 48); // 43 (state, side, type) + 5 executions counted twice
    for (const [state, side, type, body, next] of ALLOWED) {
      assert.equal(
        nextThreadState(state, { type, fromRequester: side === "R", body }),
        next,
        `${state} + ${type} from ${side}`,
      );
    }
  });

  it("refuses every other combination with THREAD_INVALID", () => {
    let refused = 0;
    for (const state of THREAD_STATES) {
      for (const side of ["R", "Q"] as Side[]) {
        for (const type of MESSAGE_TYPES) {
          if (isAllowed(state, side, type)) continue;
          refused++;
          assert.throws(
            () => nextThreadState(state, { type, fromRequester: side === "R", body: FINAL }),
            (e: unknown) =>
              threadInvalid(e) &&
              isMlaxError(e) &&
              e.details?.state === state &&
              e.details?.type === type &&
              e.message.length > 20,
            `${state} + ${type} from ${side} should be refused`,
          );
        }
      }
    }
    assert.equal(refused, THREAD_STATES.length * 2 * MESSAGE_TYPES.length - 43);
  });

  it("lists what each side may send", () => {
    for (const state of THREAD_STATES) {
      for (const side of ["R", "Q"] as Side[]) {
        const expected = MESSAGE_TYPES.filter((t) => isAllowed(state, side, t));
        assert.deepEqual(allowedMessages(state, side === "R"), expected, `${state} ${side}`);
      }
    }
  });

  it("terminal states refuse everything, status-inquiry included", () => {
    for (const state of ["executed", "refused", "withdrawn"] as ThreadState[]) {
      assert.deepEqual(allowedMessages(state, true), []);
      assert.deepEqual(allowedMessages(state, false), []);
      assert.throws(
        () => nextThreadState(state, { type: "status-inquiry", fromRequester: true }),
        threadInvalid,
      );
    }
  });

  it("a sample of refusals carries the rule in its reason and details", () => {
    const cases: [ThreadState, Side, MessageType][] = [
      ["acknowledged", "Q", "refusal"], // 18(26): consult first
      ["in-execution", "Q", "postponement"],
      ["requested", "Q", "execution"], // acknowledge first
      ["acknowledged", "R", "acknowledgement"], // wrong side
      ["acknowledged", "Q", "withdrawal"], // wrong side
      ["acknowledged", "R", "clarification"], // nothing pending
      ["clarification-pending", "Q", "execution"], // waiting for the answer
      ["acknowledged", "R", "consultation"], // the requester does not open one
      ["acknowledged", "Q", "acknowledgement"], // twice
      ["acknowledged", "R", "request"], // a request opens a thread
    ];
    for (const [state, side, type] of cases) {
      assert.throws(
        () => nextThreadState(state, { type, fromRequester: side === "R", body: FINAL }),
        (e: unknown) =>
          threadInvalid(e) &&
          isMlaxError(e) &&
          e.details?.side === (side === "R" ? "requester" : "requested") &&
          Array.isArray(e.details?.allowed),
      );
    }
  });

  it("an execution needs its completeness", () => {
    for (const body of [undefined, null, {}, { completeness: "done" }, "final"]) {
      assert.throws(
        () => nextThreadState("acknowledged", { type: "execution", fromRequester: false, body }),
        (e: unknown) => isMlaxError(e) && e.code === "INPUT_INVALID",
      );
    }
  });

  it("refuses an unknown state as an internal error", () => {
    assert.throws(
      () => nextThreadState("lost" as ThreadState, { type: "status-inquiry", fromRequester: true }),
      (e: unknown) => isMlaxError(e) && e.code === "INTERNAL",
    );
  });
});

describe("replayThread", () => {
  const R = "CO-FGN";
  const Q = "ES-MJ";
  const fwd = (type: MessageType, body?: unknown): ThreadMessage => ({
    type,
    from: R,
    to: Q,
    body,
  });
  const back = (type: MessageType, body?: unknown): ThreadMessage => ({
    type,
    from: Q,
    to: R,
    body,
  });

  function replayFails(messages: ThreadMessage[], index: number): void {
    assert.throws(
      () => replayThread(messages, R),
      (e: unknown) => threadInvalid(e) && isMlaxError(e) && e.details?.index === index,
    );
  }

  it("computes the state of whole threads", () => {
    assert.equal(replayThread([fwd("request")], R), "requested");
    assert.equal(
      replayThread(
        [
          fwd("request"),
          fwd("status-inquiry"),
          back("acknowledgement"),
          back("clarification-request"),
          fwd("clarification"),
          back("status-update"),
          back("execution", PARTIAL),
          back("execution", FINAL),
        ],
        R,
      ),
      "executed",
    );
    assert.equal(
      replayThread(
        [
          fwd("request"),
          back("acknowledgement"),
          back("consultation"),
          fwd("consultation"),
          back("refusal"),
        ],
        R,
      ),
      "refused",
    );
    assert.equal(
      replayThread(
        [
          fwd("request"),
          back("acknowledgement"),
          back("consultation"),
          back("postponement"),
          back("postponement"),
          back("execution", PARTIAL),
        ],
        R,
      ),
      "executed-partially",
    );
    assert.equal(replayThread([fwd("request"), fwd("withdrawal")], R), "withdrawn");
  });

  it("needs a request from the requester first", () => {
    replayFails([], 0);
    replayFails([back("request")], 0);
    replayFails([fwd("acknowledgement")], 0);
    replayFails([{ type: "request", from: R, to: R }], 0);
  });

  it("refuses a message outside the two parties, or against the table, with its index", () => {
    replayFails([fwd("request"), { type: "acknowledgement", from: "FR-MJ", to: R }], 1);
    replayFails([fwd("request"), { type: "status-inquiry", from: R, to: "FR-MJ" }], 1);
    replayFails([fwd("request"), back("acknowledgement"), fwd("request")], 2);
    replayFails([fwd("request"), back("acknowledgement"), back("refusal")], 2);
    replayFails([fwd("request"), fwd("acknowledgement")], 1);
    replayFails([fwd("request"), fwd("withdrawal"), fwd("status-inquiry")], 2);
  });
});
