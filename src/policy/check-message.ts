/**
 * Domain checks of a message against what this node knows, applied by the sender before sealing
 * and by the receiver before accepting (DESIGN.md domain): the body fits its message type; a request
 * is in a language the recipient accepts (UNTOC 18(14)); a follow-up fits the thread state machine
 * given the thread's messages in this node's store.
 */
import { validateBody } from "../domain/message-bodies.ts";
import type { MessageType } from "../domain/message-types.ts";
import { checkLanguage, parseRequestBody } from "../domain/request.ts";
import { replayThread } from "../domain/thread.ts";
import type { Message } from "../envelope/message.ts";
import { MlaxError } from "../errors.ts";
import type { Store } from "../store/index.ts";

type Checked = Pick<Message, "id" | "type" | "from" | "to" | "threadId" | "body">;

export function checkMessage(
  store: Store,
  message: Checked,
  recipientLanguages: readonly string[],
): void {
  validateBody(message.type as MessageType, message.body);
  if (message.type === "request") {
    checkLanguage(parseRequestBody(message.body), recipientLanguages);
    if (message.threadId !== message.id) {
      throw new MlaxError(
        "THREAD_INVALID",
        "a request opens its own thread: threadId must equal its id",
      );
    }
    return;
  }
  // Only the two parties' messages count: a third authority that reuses a request id (ids are
  // unique per sender only) cannot insert itself at the head of someone else's thread.
  const between = (m: { from: string; to: string }) =>
    (m.from === message.from && m.to === message.to) ||
    (m.from === message.to && m.to === message.from);
  const thread = store.threadMessages(message.threadId).filter(between);
  const first = thread[0];
  if (first?.type !== "request" || first.id !== message.threadId) {
    throw new MlaxError(
      "THREAD_INVALID",
      `thread ${message.threadId} is unknown here: a ${message.type} must follow a request exchanged through this node`,
    );
  }
  replayThread(
    [
      ...thread.map((m) => ({ type: m.type as MessageType, from: m.from, to: m.to, body: m.body })),
      message,
    ],
    first.from,
  );
}
