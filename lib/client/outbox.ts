/**
 * The browser's outbox: messages the user sent that the server has not confirmed yet, kept in IndexedDB
 * (database "chat-outbox", one object store keyed by `client_id`) so they survive a reload or a crash and are
 * sent again, with the same `client_id`, which the server never stores twice. Falls back to memory where
 * IndexedDB is unavailable. Browser code only: imports nothing from the server.
 *
 * @example
 * const outbox = await openOutbox();
 * await outbox.put({ client_id, room_id, content, created_at: new Date().toISOString() });
 * // ... on the ack:
 * await outbox.delete(client_id);
 */

export interface OutboxEntry {
  client_id: string;
  room_id: string;
  content: string;
  /** ISO 8601; the order the entries are sent again in. */
  created_at: string;
}

export interface Outbox {
  /** Where the entries live: "indexeddb", or "memory" when IndexedDB is unavailable. */
  readonly kind: "indexeddb" | "memory";
  put(entry: OutboxEntry): Promise<void>;
  delete(clientId: string): Promise<void>;
  /** A room's entries, oldest first. */
  list(roomId: string): Promise<OutboxEntry[]>;
}

export const OUTBOX_DB = "chat-outbox";
const STORE = "messages";
const BY_ROOM = "room_id";

const oldestFirst = (a: OutboxEntry, b: OutboxEntry) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;

/** An outbox that lasts as long as the page: the fallback. */
export class MemoryOutbox implements Outbox {
  readonly kind = "memory";
  readonly #entries = new Map<string, OutboxEntry>();

  put(entry: OutboxEntry): Promise<void> {
    this.#entries.set(entry.client_id, { ...entry });
    return Promise.resolve();
  }

  delete(clientId: string): Promise<void> {
    this.#entries.delete(clientId);
    return Promise.resolve();
  }

  list(roomId: string): Promise<OutboxEntry[]> {
    return Promise.resolve([...this.#entries.values()].filter((e) => e.room_id === roomId).sort(oldestFirst));
  }
}

class IndexedDbOutbox implements Outbox {
  readonly kind = "indexeddb";
  constructor(readonly db: IDBDatabase) {}

  put(entry: OutboxEntry): Promise<void> {
    return this.#run("readwrite", (store) => store.put(entry)).then(() => {});
  }

  delete(clientId: string): Promise<void> {
    return this.#run("readwrite", (store) => store.delete(clientId)).then(() => {});
  }

  async list(roomId: string): Promise<OutboxEntry[]> {
    const entries = await this.#run("readonly", (store) => store.index(BY_ROOM).getAll(roomId));
    return (entries as OutboxEntry[]).sort(oldestFirst);
  }

  /** Runs one request in its own transaction; resolves once the transaction has committed. */
  #run(mode: IDBTransactionMode, request: (store: IDBObjectStore) => IDBRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode);
      const req = request(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? req.error);
      tx.onabort = () => reject(tx.error ?? new Error("Outbox transaction aborted"));
    });
  }
}

/** Opens the IndexedDB outbox, or resolves with a `MemoryOutbox` when IndexedDB is missing or refuses. */
export function openOutbox(): Promise<Outbox> {
  if (typeof indexedDB === "undefined") return Promise.resolve(new MemoryOutbox());
  return new Promise<Outbox>((resolve) => {
    const fallback = () => resolve(new MemoryOutbox());
    let request: IDBOpenDBRequest;
    try {
      request = indexedDB.open(OUTBOX_DB, 1);
    } catch {
      // E.g. a sandboxed frame or a browser setting that disables storage.
      return fallback();
    }
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: "client_id" });
      store.createIndex(BY_ROOM, "room_id");
    };
    request.onsuccess = () => {
      const db = request.result;
      // A newer page version wants to upgrade the schema: let it.
      db.onversionchange = () => db.close();
      resolve(new IndexedDbOutbox(db));
    };
    request.onerror = fallback;
    request.onblocked = fallback;
  });
}
