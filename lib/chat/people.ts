import { ChatError } from "../errors.ts";
import type { Store } from "../storage/store.ts";
import type { Activity } from "./activity.ts";
import { type PublicUser, publicUser } from "./views.ts";

/** Finding people, for the API and the pages alike. */
export class People {
  constructor(readonly store: Store, readonly activity: Activity) {}

  /**
   * Up to 20 users whose username or display name contains `q` (case-insensitive, at most 32 characters),
   * ordered by username, with whether each is online.
   */
  async search(q: string): Promise<PublicUser[]> {
    // Characters are code points, as JSON Schema's `maxLength` counts them (the OpenAPI document says 32).
    if ([...q].length > 32) throw new ChatError("invalid_query", '"q" must be at most 32 characters long');
    const users = q === "" ? [] : await this.store.users.search(q, 20);
    const online = await Promise.all(users.map((u) => this.activity.isOnline(u.id)));
    return users.map((u, i) => publicUser(u, online[i]));
  }
}
