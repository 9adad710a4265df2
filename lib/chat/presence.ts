/**
 * Counts a user's open sockets. In-process now; a Redis-backed tracker counts them across instances behind the
 * same interface.
 */
export interface Presence {
  /** Records one more socket; true when the user just came online. */
  connected(userId: string): Promise<boolean>;
  /** Records one socket fewer; true when the user just went offline. */
  disconnected(userId: string): Promise<boolean>;
  /** Which of `userIds` are online. */
  online(userIds: string[]): Promise<Set<string>>;
  /** Starts background work; `onLost` gets users who went offline because another instance died. */
  start?(onLost: (userIds: string[]) => void): Promise<void>;
  stop?(): void;
  /** `degraded` while shared state (Redis) cannot be reached (metrics); absent in process. */
  health?(): "ok" | "degraded";
}
