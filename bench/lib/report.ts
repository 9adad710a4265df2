/**
 * Turns bench/results/*.json into markdown tables and an SVG chart: the generated part of docs/benchmarks.md
 * (between markers; the analysis around it is written by hand), the README's headline table and
 * docs/bench-latency.svg.
 */
import { join } from "node:path";
import type { Results } from "../run.ts";
import type { RateResult } from "./scenarios.ts";
import { type TargetKey, TARGETS } from "./targets.ts";

const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";
const HEAD_START = "<!-- bench:headline:start -->";
const HEAD_END = "<!-- bench:headline:end -->";

const n0 = (x: number) => Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–";
const n1 = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "–";
const ms = (x: number) => !Number.isFinite(x) ? "–" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : n0(x);
const name = (key: string) => TARGETS[key as TargetKey]?.name ?? key;
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const table = (head: string[], rows: (string | number)[][]) =>
  [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");

/** The highest rate a target kept up with (every delivery, p99 <= 50 ms). */
export function maxRate(results: RateResult[] | undefined): number {
  return Math.max(
    0,
    ...(results ?? []).filter((r) => r.keptUp).map((r) => r.rate),
  );
}

/** The measured rate closest to (at or under) half of ours' maximum: where latency targets are read. */
export function referenceRate(results: Results): number {
  const rates = results.profile.s3Rates;
  const half = maxRate(results.s3.ours) / 2;
  return [...rates].reverse().find((r) => r <= half) ?? rates[0];
}

const at = (list: RateResult[] | undefined, rate: number) => list?.find((r) => r.rate === rate);

export function headline(results: Results): string {
  const ref = referenceRate(results);
  const keys = Object.keys(TARGETS) as TargetKey[];
  const rows = keys.filter((k) => results.s3[k] || results.s1[k]).map((k) => {
    const s3 = at(results.s3[k], ref);
    const s1 = results.s1[k];
    const s4 = results.s4[k]?.[0];
    return [
      name(k),
      s1 ? `${n0(s1.opened)} (${n1(s1.kibPerSocket)} KiB each)` : "–",
      s3 ? `${ms(s3.latency.p50)} / ${ms(s3.latency.p99)}` : "–",
      s3 ? n0(s3.deliveriesPerCpuSec) : "–",
      n0(maxRate(results.s3[k])),
      s4 ? ms(s4.lastRecipientP50) : "–",
    ];
  });
  return [
    `${results.profile.name} profile, ${results.date.slice(0, 10)}, ${results.machine.cores} cores ` +
    `(${results.machine.cpu}); server on core 0, generator on core 1. S3: ${n0(results.profile.s3Conns)} ` +
    `sockets in rooms of 10 at ${n0(ref)} deliveries/s; S4: ${n0(results.profile.s4Sizes[0])} members.`,
    "",
    table([
      "server",
      `S1 sockets held (RSS above baseline)`,
      "S3 p50 / p99 ms",
      "S3 deliveries per server CPU-s",
      "S3 max deliveries/s kept up",
      "S4 time to last member, ms (p50)",
    ], rows),
  ].join("\n");
}

export function markdown(results: Results): string {
  const p = results.profile;
  const out: string[] = [];
  out.push(`### ${p.name} profile: ${results.date}`);
  out.push("");
  out.push(`Command: \`${results.command}\`. Pinning: ${results.pinning}.`);
  if (results.reruns?.length) {
    out.push(
      `\nMeasured again later and merged: ${results.reruns.join("; ")}.`,
    );
  }
  out.push("");
  out.push(
    table(
      ["machine", ""],
      Object.entries(results.machine).map(([k, v]) => [k, v]),
    ),
  );
  out.push("");
  out.push(
    table(
      ["software", "version"],
      Object.entries(results.versions).map(([k, v]) => [k, v]),
    ),
  );
  out.push("");
  if (results.errors.length > 0) {
    out.push("Steps that failed in this run:");
    out.push("");
    for (const e of results.errors) out.push(`- ${e.split("\n")[0]}`);
    out.push("");
  }

  out.push(
    `#### S1 idle capacity: ${n0(p.s1Sockets)} authenticated sockets on one instance`,
  );
  out.push("");
  out.push(table(
    [
      "server",
      "open",
      "refused",
      "connects/s",
      "RSS before -> after",
      "KiB per socket",
      "idle CPU %",
      "gen CPU %",
    ],
    Object.entries(results.s1).map(([k, r]) => [
      name(k),
      n0(r.opened),
      Object.entries(r.refused).map(([e, c]) => `${c} ${e}`).join(", ") || "0",
      n0(r.connectPerSec),
      `${n0(r.baselineKiB / 1024)} -> ${n0(r.rssKiB / 1024)} MiB`,
      n1(r.kibPerSocket),
      n1(r.idleCpuPct),
      n0(r.generatorCpuPct),
    ]),
  ));
  out.push("");

  out.push(
    `#### S3 chat rooms: ${n0(p.s3Conns)} sockets in rooms of 10, open loop, ${p.s3Seconds} s per rate`,
  );
  out.push("");
  out.push(
    "Rate = deliveries per second (messages/s x 10). Latency = publish -> deliver, ms, over every delivery. " +
      '"kept up" = every message reached every member and p99 <= 50 ms.',
  );
  out.push("");
  out.push(rateTable(results.s3));
  out.push("");

  out.push(
    `#### S4 big room: one member publishes ${p.s4Messages} messages, 200 ms apart`,
  );
  out.push("");
  out.push(table(
    [
      "server",
      "members",
      "connect s",
      "messages complete",
      "time to last member p50 / max ms",
      "p99 ms",
      "dups",
    ],
    Object.entries(results.s4).flatMap(([k, list]) =>
      list.map((r) => [
        name(k),
        n0(r.members),
        n1(r.connectSec),
        `${r.complete} / ${r.messages}`,
        `${ms(r.lastRecipientP50)} / ${ms(r.lastRecipientMax)}`,
        ms(r.latency.p99),
        r.dups,
      ])
    ),
  ));
  out.push("");

  out.push(
    `#### S5 cross-instance: two instances + Redis, sockets split between them`,
  );
  out.push("");
  out.push(
    rateTable(
      Object.fromEntries(
        Object.entries(results.s5).map(([k, v]) => [k, v.rates]),
      ),
    ),
  );
  out.push("");
  const big5 = Object.entries(results.s5).filter(([, v]) => v.bigRoom);
  if (big5.length > 0) {
    out.push(table(
      [
        "server (x2)",
        "big room members",
        "messages complete",
        "time to last member p50 / max ms",
      ],
      big5.map(([k, v]) => [
        name(k),
        n0(v.bigRoom!.members),
        `${v.bigRoom!.complete} / ${v.bigRoom!.messages}`,
        `${ms(v.bigRoom!.lastRecipientP50)} / ${ms(v.bigRoom!.lastRecipientMax)}`,
      ]),
    ));
    out.push("");
  }

  if (results.s6.ours) {
    const r = results.s6.ours;
    out.push(`#### S6 reconnect storm (ours)`);
    out.push("");
    out.push(table(
      [
        "sockets",
        "traffic",
        "all back and caught up",
        "reconnect retries",
        "deliveries",
        "gaps",
        "dups",
      ],
      [[
        n0(r.conns),
        `${n0(r.rate)} deliveries/s`,
        `${n0(r.allBackMs)} ms (jitter 0-1000 ms)`,
        r.reconnectFailures,
        n0(r.received),
        r.gaps,
        r.dups,
      ]],
    ));
    out.push("");
  }

  if (Object.keys(results.s8).length > 0) {
    out.push(
      `#### S8 persistence: ours on each store (every message is stored before it is delivered)`,
    );
    out.push("");
    out.push(
      rateTable(
        results.s8,
        (k) => k === "sqlite" ? "ours, SQLite" : "ours, MongoDB wire (FerretDB)",
      ),
    );
    out.push("");
  }

  out.push("#### Targets");
  out.push("");
  out.push(targetsTable(results));
  return out.join("\n");
}

function rateTable(
  byTarget: Partial<Record<string, RateResult[]>>,
  label: (key: string) => string = name,
): string {
  return table(
    [
      "server",
      "rate",
      "delivered",
      "gaps",
      "dups",
      "p50",
      "p99",
      "p99.9",
      "max",
      "server CPU s",
      "per CPU-s",
      "gen CPU %",
      "kept up",
    ],
    Object.entries(byTarget).flatMap(([k, list]) =>
      (list ?? []).map((r) => [
        label(k),
        n0(r.rate),
        `${n0(r.received)} / ${n0(r.expected)}`,
        r.gaps,
        r.dups,
        Object.entries(r.errors ?? {}).map(([code, count]) => `${count} ${code}`).join(", ") || "0",
        ms(r.latency.p50),
        ms(r.latency.p99),
        ms(r.latency.p999),
        ms(r.latency.max),
        n1(r.serverCpuSec),
        n0(r.deliveriesPerCpuSec),
        n0(r.generatorCpuPct),
        r.keptUp ? "yes" : "no",
      ])
    ),
  );
}

function targetsTable(results: Results): string {
  const rows: string[][] = [];
  const check = (what: string, value: string, ok: boolean | undefined) =>
    rows.push([
      what,
      value,
      ok === undefined ? "not measured" : ok ? "met" : "**missed**",
    ]);
  const s1 = results.s1.ours;
  check(
    "19,000 sockets held on one instance at <= 10 KB RSS each above baseline",
    s1 ? `${n0(s1.opened)} held, ${n1(s1.kibPerSocket)} KiB each` : "–",
    s1 ? s1.opened >= 19_000 && s1.kibPerSocket * 1.024 <= 10 : undefined,
  );
  const ref = referenceRate(results);
  const s3 = at(results.s3.ours, ref);
  check(
    `p99 publish->deliver <= 10 ms in one instance at half the maximum rate (${n0(ref)}/s)`,
    s3 ? `${ms(s3.latency.p99)} ms` : "–",
    s3 ? s3.latency.p99 <= 10 : undefined,
  );
  const s5 = at(results.s5.ours?.rates, results.profile.s5Rates[0]);
  check(
    `p99 <= 15 ms across instances (${n0(results.profile.s5Rates[0])}/s)`,
    s5 ? `${ms(s5.latency.p99)} ms` : "–",
    s5 ? s5.latency.p99 <= 15 : undefined,
  );
  const sio = at(results.s3.socketio, ref);
  check(
    ">= 2x Socket.IO's deliveries per server CPU-second on S3",
    s3 && sio
      ? `${n0(s3.deliveriesPerCpuSec)} vs ${n0(sio.deliveriesPerCpuSec)} (${
        (s3.deliveriesPerCpuSec / sio.deliveriesPerCpuSec).toFixed(2)
      }x)`
      : "–",
    s3 && sio ? s3.deliveriesPerCpuSec >= 2 * sio.deliveriesPerCpuSec : undefined,
  );
  const big = results.s4.ours?.find((r) => r.members === 5_000) ??
    results.s4.ours?.[0];
  check(
    "a 5,000-member room reached in <= 50 ms",
    big
      ? `${n0(big.members)} members: ${ms(big.lastRecipientP50)} ms p50, ${ms(big.lastRecipientMax)} max`
      : "–",
    big && big.members >= 5_000 ? big.lastRecipientMax <= 50 : undefined,
  );
  return table(["target", "measured (ours)", "verdict"], rows);
}

/** Chart labels. */
const SHORT: Record<TargetKey, string> = {
  ours: "ours",
  socketio: "Socket.IO",
  ws: "Node ws",
  deno: "Deno naive",
  bun: "Bun",
};

/** An SVG bar chart: S3 latency percentiles and deliveries per CPU-second per server. */
export function chart(results: Results): string {
  const ref = referenceRate(results);
  const keys = (Object.keys(TARGETS) as TargetKey[]).filter((k) => at(results.s3[k], ref));
  const W = 860,
    H = 360,
    pad = 50,
    panel = (W - 3 * pad) / 2,
    top = 50,
    bottom = H - 80;
  const colors = ["#4c78a8", "#f58518", "#e45756"];
  const parts: string[] = [];
  const text = (x: number, y: number, s: string, extra = "") =>
    parts.push(
      `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${s}</text>`,
    );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  text(
    W / 2,
    22,
    `S3: ${results.profile.s3Conns} sockets in rooms of 10 at ${ref} deliveries/s (${results.profile.name} profile, ${
      results.date.slice(0, 10)
    })`,
    'text-anchor="middle" font-weight="bold"',
  );
  // Left: latency percentiles (log scale).
  const lat = keys.map((k) => at(results.s3[k], ref)!.latency);
  const maxLat = Math.max(1, ...lat.map((l) => l.p999));
  const logMax = Math.ceil(Math.log10(maxLat));
  const y = (v: number) => bottom - (Math.log10(Math.max(0.1, v)) + 1) / (logMax + 1) * (bottom - top);
  text(
    pad + panel / 2,
    42,
    "publish -> deliver latency, ms (log scale)",
    'text-anchor="middle"',
  );
  for (let e = -1; e <= logMax; e++) {
    const v = 10 ** e;
    parts.push(
      `<line x1="${pad}" x2="${pad + panel}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
    );
    text(pad - 6, y(v) + 4, String(v), 'text-anchor="end"');
  }
  const group = panel / Math.max(1, keys.length);
  keys.forEach((k, i) => {
    const l = lat[i];
    [l.p50, l.p99, l.p999].forEach((v, j) => {
      const bw = group / 4, x = pad + i * group + group / 8 + j * bw;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${bw - 2}" height="${bottom - y(v)}" fill="${colors[j]}"/>`,
      );
    });
    text(
      pad + i * group + group / 2,
      bottom + 16,
      SHORT[k],
      'text-anchor="middle" font-size="11"',
    );
  });
  ["p50", "p99", "p99.9"].forEach((label, j) => {
    parts.push(
      `<rect x="${pad + j * 70}" y="${H - 30}" width="12" height="12" fill="${colors[j]}"/>`,
    );
    text(pad + j * 70 + 16, H - 20, label);
  });
  // Right: deliveries per server CPU-second.
  const eff = keys.map((k) => at(results.s3[k], ref)!.deliveriesPerCpuSec);
  const maxEff = Math.max(1, ...eff);
  const x0 = 2 * pad + panel;
  text(
    x0 + panel / 2,
    42,
    "deliveries per server CPU-second (higher is better)",
    'text-anchor="middle"',
  );
  keys.forEach((k, i) => {
    const h = eff[i] / maxEff * (bottom - top - 16);
    const x = x0 + i * group + group / 6;
    parts.push(
      `<rect x="${x}" y="${bottom - h}" width="${group * 2 / 3}" height="${h}" fill="${
        k === "ours" ? "#54a24b" : "#9d9d9d"
      }"/>`,
    );
    text(
      x + group / 3,
      bottom - h - 4,
      n0(eff[i]),
      'text-anchor="middle" font-size="11"',
    );
    text(
      x0 + i * group + group / 2,
      bottom + 16,
      SHORT[k],
      'text-anchor="middle" font-size="11"',
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n${
    parts.join("\n")
  }\n</svg>\n`;
}

async function readResults(
  root: string,
  profile: string,
): Promise<Results | null> {
  try {
    return JSON.parse(
      await Deno.readTextFile(
        join(root, "bench", "results", `${profile}.json`),
      ),
    );
  } catch {
    return null;
  }
}

function replaceBetween(
  text: string,
  start: string,
  end: string,
  body: string,
): string {
  const i = text.indexOf(start), j = text.indexOf(end);
  if (i < 0 || j < i) return text + `\n${start}\n${body}\n${end}\n`;
  return text.slice(0, i + start.length) + "\n" + body + "\n" + text.slice(j);
}

/**
 * Rewrites the generated parts of docs/benchmarks.md, the README headline and the chart from the stored
 * results (full first, then quick); returns the markdown of the most recent run.
 */
export async function writeReport(root: string): Promise<string> {
  const full = await readResults(root, "full");
  const quick = await readResults(root, "quick");
  const sections = [full, quick].filter((r): r is Results => r !== null);
  if (sections.length === 0) return "(no results yet)";
  const body = sections.map(markdown).join("\n\n");
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = "";
  try {
    doc = await Deno.readTextFile(docPath);
  } catch {
    doc = "# Benchmarks\n";
  }
  await Deno.writeTextFile(docPath, replaceBetween(doc, START, END, body));
  const main = sections[0];
  await Deno.writeTextFile(
    join(root, "docs", "bench-latency.svg"),
    chart(main),
  );
  const readmePath = join(root, "README.md");
  const readme = await Deno.readTextFile(readmePath);
  const head = `${headline(main)}\n\n![S3 latency and efficiency per server](docs/bench-latency.svg)`;
  if (readme.includes(HEAD_START)) {
    await Deno.writeTextFile(
      readmePath,
      replaceBetween(readme, HEAD_START, HEAD_END, head),
    );
    // The README is checked by `deno fmt --check` (tables aligned): format what was written.
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "-q", readmePath],
      cwd: root,
    }).output();
  }
  const latest = sections.reduce((a, b) => a.date > b.date ? a : b);
  return markdown(latest);
}
