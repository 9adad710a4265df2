let counter = crypto.getRandomValues(new Uint32Array(1))[0] & 0xffffff;
const processRandom = Array.from(
  crypto.getRandomValues(new Uint8Array(5)),
  (b) => b.toString(16).padStart(2, "0"),
)
  .join("");

/**
 * A new 24-hex-character id shaped like a MongoDB ObjectId (seconds timestamp, per-process random, counter), so
 * ids sort roughly by creation time and look the same whichever store made them.
 *
 * @example
 * newId(); // "6745f0c2a1b2c3d4e5000001"
 */
export function newId(): string {
  counter = (counter + 1) & 0xffffff;
  const seconds = Math.floor(Date.now() / 1000);
  return seconds.toString(16).padStart(8, "0") + processRandom + counter.toString(16).padStart(6, "0");
}

const ID_RE = /^[0-9a-f]{24}$/;

/** Whether `value` has the shape of an id made by `newId()`. */
export function isId(value: unknown): value is string {
  return typeof value === "string" && ID_RE.test(value);
}
