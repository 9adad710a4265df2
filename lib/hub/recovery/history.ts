/** A stored room frame: its seq and its text, exactly as clients get it. */
export interface SeqFrame {
  seq: number;
  frame: string;
}

/** Stored room frames, read by the hub to fill gaps and resumes (the store, behind a port). */
export interface History {
  /** The room's last stored seq; 0 when it has none (or is unknown). */
  lastSeq(roomId: string): Promise<number>;
  /** Each room's last stored seq, in one read (rooms with none, or unknown, may be absent). */
  lastSeqs(roomIds: string[]): Promise<Map<string, number>>;
  /** Stored frames of the room with `seq > afterSeq`, ascending, at most `limit`. */
  after(roomId: string, afterSeq: number, limit: number): Promise<SeqFrame[]>;
}
