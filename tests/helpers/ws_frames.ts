/**
 * WebSocket frames by hand, for raw TCP clients (`rawUpgrade()`): a client's masked text frame, and a reader
 * of the server's frames that tells text frames apart from the close frame and EOF.
 */

/** A masked (client-to-server) text frame holding `text`. */
export function clientTextFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + length);
  frame[0] = 0x81; // FIN, text
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65_536) {
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, length);
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, header);
  for (let i = 0; i < length; i++) frame[header + 4 + i] = payload[i] ^ mask[i % 4];
  return frame;
}

/** How a server's stream of frames ended. */
export interface StreamEnd {
  /** Text frames received. */
  texts: number;
  /** The close frame's status code, when one arrived. */
  closeCode?: number;
  closeReason?: string;
  /** Whether the connection reached EOF (or was reset) before any close frame. */
  eof: boolean;
}

/** Reads the server's frames (unmasked, unfragmented, as Deno sends them) from a raw connection, one at a time. */
export class ServerFrameReader {
  /** Bytes read and not parsed yet: `#pending[#start..]`. */
  #pending = new Uint8Array(0);
  #start = 0;
  #eof = false;
  readonly #buffer = new Uint8Array(256 * 1024);

  constructor(readonly conn: Deno.Conn) {}

  /** The next frame, control frames (close 0x8, ping 0x9, pong 0xA) included; null at EOF or a reset. */
  async next(): Promise<{ opcode: number; payload: Uint8Array } | null> {
    for (;;) {
      const frame = this.#parse();
      if (frame !== undefined) return frame;
      if (this.#eof) return null;
      let n: number | null;
      try {
        n = await this.conn.read(this.#buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) n = null;
        else throw error;
      }
      if (n === null) {
        this.#eof = true;
        continue;
      }
      const rest = this.#pending.subarray(this.#start);
      const joined = new Uint8Array(rest.length + n);
      joined.set(rest);
      joined.set(this.#buffer.subarray(0, n), rest.length);
      this.#pending = joined;
      this.#start = 0;
    }
  }

  /** The next text frame's text (skipping control frames); null at a close frame or EOF. */
  async nextText(): Promise<string | null> {
    for (;;) {
      const frame = await this.next();
      if (frame === null || frame.opcode === 0x8) return null;
      if (frame.opcode === 0x1) return new TextDecoder().decode(frame.payload);
    }
  }

  /** Reads up to the close frame or EOF, whichever comes first, counting text frames. */
  async drain(): Promise<StreamEnd> {
    const end: StreamEnd = { texts: 0, eof: false };
    for (;;) {
      const frame = await this.next();
      if (frame === null) {
        end.eof = true;
        return end;
      }
      if (frame.opcode === 0x1) end.texts++;
      if (frame.opcode === 0x8) {
        if (frame.payload.length >= 2) {
          end.closeCode = new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint16(0);
          end.closeReason = new TextDecoder().decode(frame.payload.subarray(2));
        }
        return end;
      }
    }
  }

  #parse(): { opcode: number; payload: Uint8Array } | undefined {
    const bytes = this.#pending.subarray(this.#start);
    if (bytes.length < 2) return undefined;
    const opcode = bytes[0] & 0x0f;
    let length = bytes[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (bytes.length < 4) return undefined;
      length = new DataView(bytes.buffer, bytes.byteOffset).getUint16(2);
      offset = 4;
    } else if (length === 127) {
      if (bytes.length < 10) return undefined;
      length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(2));
      offset = 10;
    }
    if (bytes[1] & 0x80) throw new Error("A server frame must not be masked");
    if (bytes.length < offset + length) return undefined;
    const payload = bytes.slice(offset, offset + length);
    this.#start += offset + length;
    return { opcode, payload };
  }
}
