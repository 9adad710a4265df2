/**
 * What travels over the bus: one line of routing metadata, a newline, then the frame exactly as clients get it,
 * so a receiving hub forwards the frame text without parsing or serialising it again.
 */
export interface EnvelopeMeta {
  /** Skip the sockets of this user (e.g. the typist). */
  x?: string;
  /**
   * Presence fan-out: the rooms the frame was published to. A socket in several of them takes the copy of the
   * first room in this list that it is subscribed to, so it gets the frame once.
   */
  p?: string[];
  /** A stored message's room `seq`: receiving hubs deliver these in order, once, filling gaps from the store. */
  s?: number;
  /** When a stored message was published (ms since the epoch): receiving hubs observe the delivery latency. */
  t?: number;
  /** User-channel control: subscribe (`sub`) or unsubscribe (`unsub`) the user's sockets to room `r`. */
  c?: "sub" | "unsub";
  r?: string;
  /** The hub that published a control: it applied the change itself and skips its own copy. */
  o?: string;
}

export function encodeEnvelope(meta: EnvelopeMeta, frame: string): string {
  return JSON.stringify(meta) + "\n" + frame;
}

export function decodeEnvelope(payload: string): { meta: EnvelopeMeta; frame: string } {
  const newline = payload.indexOf("\n");
  if (newline < 0) throw new SyntaxError("Bus payload has no envelope header");
  return { meta: JSON.parse(payload.slice(0, newline)), frame: payload.slice(newline + 1) };
}

export const roomChannel = (roomId: string): string => `room:${roomId}`;
export const userChannel = (userId: string): string => `user:${userId}`;
