/**
 * `deno task cluster`: Redis, three chat instances sharing one SQLite file, and nginx in front on
 * http://127.0.0.1:8080 (PORT to change it), all on loopback. Ctrl+C stops everything cleanly.
 */
// deno-lint-ignore-file no-console
import { startCluster } from "./cluster_lib.ts";

const dir = new URL("../data/cluster/", import.meta.url).pathname;
const cluster = await startCluster({
  dir,
  port: Number(Deno.env.get("PORT") ?? 8080),
  inheritOutput: true,
  env: { LOG_LEVEL: Deno.env.get("LOG_LEVEL") ?? "info" },
});
console.log(
  `Cluster up: ${cluster.url} (nginx) -> ${
    cluster.instances.map((i) => i.port).join(", ")
  }; Redis ${cluster.redisUrl}`,
);

const { promise, resolve } = Promise.withResolvers<void>();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => resolve());
await promise;
console.log("Stopping the cluster…");
await cluster.stop();
Deno.exit(0);
