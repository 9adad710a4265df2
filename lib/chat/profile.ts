import { ChatError } from "../errors.ts";
import type { ProfileUpdate, UserRepo } from "../storage/store.ts";
import { type Body, optionalString } from "../validate.ts";

/** Largest avatar given as a `data:` URL, in decoded bytes. */
export const MAX_AVATAR_BYTES = 256 * 1024;
/** Image types an uploaded avatar may have. */
export const AVATAR_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const DATA_URL_RE = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/;

/** Longest display name, in characters (code points). */
export const MAX_DISPLAY_NAME_CHARS = 64;

/**
 * Characters a display name may not hold at all: C0 and C1 controls, and the bidirectional formatting
 * characters (embeddings and overrides U+202A-202E, isolates U+2066-2069, the marks U+200E, U+200F and
 * U+061C), which can make a name read backwards or turn the text after it around. As a regex class body.
 */
const FORBIDDEN = "\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069";
/**
 * Characters that show nothing by themselves: the forbidden ones, spaces, zero-width characters and the other
 * default-ignorable ones (soft hyphen, joiners, variation selectors, Hangul fillers …). A display name needs
 * at least one character outside this class.
 */
const INVISIBLE = FORBIDDEN +
  "\\u0020\\u00A0\\u00AD\\u034F\\u115F\\u1160\\u1680\\u17B4\\u17B5\\u180B-\\u180F\\u2000-\\u200D\\u2028\\u2029\\u202F" +
  "\\u205F-\\u2065\\u206A-\\u206F\\u3000\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFF8";
/** The same beyond the BMP: tags, variation selectors supplement, musical and shorthand format controls. */
const INVISIBLE_ASTRAL = "\\u{1BCA0}-\\u{1BCA3}\\u{1D173}-\\u{1D17A}\\u{E0000}-\\u{E0FFF}";

/**
 * The display-name rules as one ECMA-262 pattern, for the OpenAPI document: no forbidden character, and at
 * least one visible one (in the BMP; the server also counts astral default-ignorables as invisible).
 */
export const DISPLAY_NAME_PATTERN = `^[^${FORBIDDEN}]*[^${INVISIBLE}][^${FORBIDDEN}]*$`;

// Each tests one character at a time: linear in the name, whatever it holds.
const HAS_FORBIDDEN = new RegExp(`[${FORBIDDEN}]`, "u");
const HAS_VISIBLE = new RegExp(`[^${INVISIBLE}${INVISIBLE_ASTRAL}]`, "u");

/**
 * Why `name` cannot be a display name, by its characters alone, or null when it can: it must be well-formed
 * Unicode, hold no control or bidirectional formatting character, and show something (not only spaces,
 * zero-width or other invisible characters).
 */
export function displayNameProblem(name: string): string | null {
  if (!name.isWellFormed()) return "Display name must be well-formed Unicode";
  if (HAS_FORBIDDEN.test(name)) {
    return "Display name may not contain control characters or right-to-left/left-to-right overrides";
  }
  if (!HAS_VISIBLE.test(name)) {
    return "Display name must show something: not only spaces or invisible characters";
  }
  return null;
}

/**
 * The username a display name would pass for: NFKC-normalised (full-width and other compatibility forms
 * become plain letters), trimmed, without a leading `@`, lower-cased.
 */
export function usernameLookalike(name: string): string {
  return name.normalize("NFKC").trim().replace(/^@/, "").trim().toLowerCase();
}

/**
 * Validates `{display_name?, avatar_url?}` (absent: unchanged, null: cleared) by their shape: a display name by
 * `displayNameProblem`, an avatar as an https URL or a `data:image/…;base64` URL of at most 256 KB. Whether
 * the name is someone else's username is `checkDisplayNameFree`'s question (it asks the store).
 */
export function parseProfileUpdate(body: Body): ProfileUpdate {
  const update: ProfileUpdate = {};
  const typed = body.display_name;
  if (typeof typed === "string" && [...typed].length > MAX_DISPLAY_NAME_CHARS) {
    throw new ChatError(
      "invalid_display_name",
      `Display name must be at most ${MAX_DISPLAY_NAME_CHARS} characters`,
    );
  }
  const displayName = optionalString(body, "display_name", MAX_DISPLAY_NAME_CHARS, { nullable: true });
  if (displayName !== undefined) {
    if (displayName !== null && displayName.trim() === "") {
      throw new ChatError("invalid_display_name", '"display_name" must not be blank; send null to clear it');
    }
    const problem = displayName === null ? null : displayNameProblem(displayName);
    if (problem !== null) throw new ChatError("invalid_display_name", problem);
    update.display_name = displayName;
  }
  const avatar = optionalString(body, "avatar_url", 400 * 1024, { nullable: true });
  if (avatar !== undefined) update.avatar_url = avatar === null ? null : checkAvatar(avatar);
  return update;
}

/**
 * Refuses (400 `invalid_display_name`) a new display name that reads as another user's username
 * (`usernameLookalike`: "ＢＯＢ", " @bob" and "Bob" are all bob's), so nobody shows up as someone else. The
 * user's own username is fine.
 */
export async function checkDisplayNameFree(
  users: Pick<UserRepo, "byUsername">,
  userId: string,
  update: ProfileUpdate,
): Promise<void> {
  const name = update.display_name;
  if (name === undefined || name === null) return;
  const lookalike = usernameLookalike(name);
  if (!USERNAME_SHAPE.test(lookalike)) return;
  const owner = await users.byUsername(lookalike);
  if (owner !== null && owner.id !== userId) {
    throw new ChatError("invalid_display_name", "That is another user's username; choose a name of your own");
  }
}

/** What a username can look like (lib/auth/service.ts checks new ones): nothing else needs a lookup. */
const USERNAME_SHAPE = /^[a-z0-9_.-]{3,32}$/;

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
