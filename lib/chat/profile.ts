import { ChatError } from "../errors.ts";
import type { ProfileUpdate } from "../storage/store.ts";
import { type Body, optionalString } from "../validate.ts";

/** Largest avatar given as a `data:` URL, in decoded bytes. */
export const MAX_AVATAR_BYTES = 256 * 1024;
/** Image types an uploaded avatar may have. */
export const AVATAR_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const DATA_URL_RE = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/;

/**
 * Validates `{display_name?, avatar_url?}` (absent: unchanged, null: cleared). An avatar is an https URL or a
 * `data:image/…;base64` URL of at most 256 KB.
 */
export function parseProfileUpdate(body: Body): ProfileUpdate {
  const update: ProfileUpdate = {};
  const displayName = optionalString(body, "display_name", 64, { nullable: true });
  if (displayName !== undefined) {
    if (displayName !== null && displayName.trim() === "") {
      throw new ChatError("invalid_display_name", '"display_name" must not be blank; send null to clear it');
    }
    update.display_name = displayName;
  }
  const avatar = optionalString(body, "avatar_url", 400 * 1024, { nullable: true });
  if (avatar !== undefined) update.avatar_url = avatar === null ? null : checkAvatar(avatar);
  return update;
}

function checkAvatar(url: string): string {
  const data = DATA_URL_RE.exec(url);
  if (data !== null) {
    const b64 = data[2];
    const bytes = Math.floor(b64.length * 3 / 4) - (b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0);
    if (bytes > MAX_AVATAR_BYTES) {
      throw new ChatError(
        "invalid_avatar_url",
        `An avatar image must be at most ${MAX_AVATAR_BYTES / 1024} KB`,
      );
    }
    return url;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ChatError("invalid_avatar_url", '"avatar_url" must be an https URL or a data:image URL');
  }
  if (parsed.protocol !== "https:" || url.length > 2048) {
    throw new ChatError(
      "invalid_avatar_url",
      '"avatar_url" must be an https URL (at most 2048 characters) or a data:image URL',
    );
  }
  return url;
}
