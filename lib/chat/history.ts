import type { History } from "../hub/recovery/mod.ts";
import type { Store } from "../storage/store.ts";

/** The hub's history port on the store: a stored message's frame is its JSON, as it was published. */
export function storeHistory(store: Store): History {
  return {
    async lastSeq(roomId) {
      return (await store.rooms.byId(roomId))?.last_seq ?? 0;
    },
    lastSeqs(roomIds) {
      return store.rooms.lastSeqs(roomIds);
    },
    async after(roomId, afterSeq, limit) {
      const page = await store.messages.history(roomId, { after_seq: afterSeq, limit });
      return page.messages.map((m) => ({ seq: m.seq, frame: JSON.stringify(m) }));
    },
  };
}
