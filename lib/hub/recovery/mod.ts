/**
 * How a socket catches up without a gap or a repeat, in one place (the model is Centrifuge's recovery):
 * - `history.ts`: the port the hub reads stored frames through (the store, behind it);
 * - `seq_order.ts`: a room's stored frames off the bus put back in seq order, gaps filled from the history;
 * - `socket_stream.ts` and `sent_seqs.ts`: per socket, exactly which seqs it was sent and what it holds back;
 * - `bus_catch_up.ts`: while the bus is deaf, the rooms' new stored frames read from the store instead;
 * - `resume.ts`: the `resume` frame's backfill, from the recent window or the history, bounded per frame and
 *   written as the socket drains.
 */
export type { History, SeqFrame } from "./history.ts";
export { SeqOrder } from "./seq_order.ts";
export { BusCatchUp } from "./bus_catch_up.ts";
export { SocketStream } from "./socket_stream.ts";
export {
  NotSubscribedError,
  RecentWindow,
  resume,
  RESUME_MAX_MESSAGES,
  type ResumeOutcome,
  type ResumeResult,
} from "./resume.ts";
