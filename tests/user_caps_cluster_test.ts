/**
 * The per-user caps across two instances sharing Redis (scripts/cluster_lib.ts): each scenario of
 * tests/helpers/user_caps.ts spreads one user's requests and sockets over both instances, addressed directly
 * (not through nginx, so the spread is exact), and the caps hold for the user as a whole: rooms per hour, new
 * direct conversations per hour, typing notices, and sockets.
 */
import { startCluster } from "../scripts/cluster_lib.ts";
import {
  CAPS_ENV,
  directRoomsPerUser,
  roomsPerUser,
  socketsPerUser,
  typingPerUser,
} from "./helpers/user_caps.ts";

const ENV = {
  ...CAPS_ENV,
  RATE_LIMIT_PER_SEC: "1000",
  RATE_LIMIT_BURST: "1000",
  AUTH_RATE_LIMIT_PER_MIN: "60000",
  AUTH_RATE_LIMIT_BURST: "10000",
  BCRYPT_COST: "4",
};

Deno.test("one user's caps hold across two instances behind Redis", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "chat-caps-cluster-" });
  const cluster = await startCluster({ dir, instances: 2, env: ENV });
  try {
    const targets = { bases: cluster.instances.map((instance) => `http://127.0.0.1:${instance.port}`) };
    await t.step("rooms created per hour", () => roomsPerUser(targets));
    await t.step(
      "sockets per user: the newest is refused with 429 on either instance",
      () => socketsPerUser(targets),
    );
    await t.step("typing notices per user, over sockets on both instances", () => typingPerUser(targets));
    await t.step("direct conversations with new people per hour", () => directRoomsPerUser(targets));
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
