import { encodeBase64 } from "../lib/web/base64.ts";
import { ErrorSummary } from "../components/ErrorSummary.tsx";
import { Field } from "../components/Field.tsx";
import { SettingsNav } from "../components/SettingsNav.tsx";
import {
  AVATAR_TYPES,
  checkDisplayNameFree,
  MAX_AVATAR_BYTES,
  parseProfileUpdate,
} from "../lib/chat/profile.ts";
import { ChatError } from "../lib/errors.ts";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import type { ProfileUpdate } from "../lib/storage/store.ts";
import { FieldProblems } from "../lib/validate.ts";
import { formError, problemsOf } from "../lib/web/form_errors.ts";
import { signedIn } from "../lib/web/guard.ts";
import { define, readForm, type State } from "../utils.ts";

interface Data {
  username: string;
  email: string;
  display_name: string | null;
  avatar_url: string | null;
  errors: Record<string, string>;
  saved: boolean;
  /** What was typed into a refused form, shown again. */
  typed?: { display_name: string; avatar_url: string };
}

/** The form's fields, in order, with the id of their input (the error summary links to it). */
const PROFILE_INPUTS = { display_name: "display-name", avatar_url: "avatar-url", avatar_file: "avatar-file" };

/** Profile: display name and avatar (an https URL, or an uploaded image kept as a data: URL). */
export const handler = define.handlers<Data>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    ctx.state.title = "Profile";
    const me = await ctx.state.services.store.users.byId(user.userId);
    if (me === null) return new Response("Account not found", { status: 404 });
    const { username, email, display_name, avatar_url } = me;
    return page({ username, email, display_name, avatar_url, errors: {}, saved: false });
  },

  async POST(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { store } = ctx.state.services;
    const { fields, form } = await readForm(ctx.req);
    let errors: Record<string, string> = {};
    let status = 200;
    try {
      // Every field is checked before anything is saved, so every problem is shown at once.
      const problems = new FieldProblems();
      const displayName = (fields.display_name ?? "").trim();
      const update: ProfileUpdate = problems.check(
        "display_name",
        () => parseProfileUpdate({ display_name: displayName === "" ? null : displayName }),
      ) ?? {};
      if (!problems.has("display_name")) {
        try {
          await checkDisplayNameFree(store.users, user.userId, update);
        } catch (error) {
          if (!(error instanceof ChatError) || error.status >= 500) throw error;
          problems.add("display_name", error.message);
        }
      }
      const file = form.get("avatar_file");
      const avatarUrl = (fields.avatar_url ?? "").trim();
      if (fields.remove_avatar === "on") update.avatar_url = null;
      else if (file instanceof File && file.size > 0) {
        update.avatar_url = await fileToDataUrl(file, problems);
      } else if (avatarUrl !== "") {
        Object.assign(
          update,
          problems.check(
            "avatar_url",
            () => parseProfileUpdate({ avatar_url: avatarUrl }),
            "Enter an image address that starts with https:// (at most 2048 characters)",
          ),
        );
      }
      problems.throwIfAny();
      await store.users.updateProfile(user.userId, update);
    } catch (error) {
      ({ errors, status } = formError(error, Object.keys(PROFILE_INPUTS)));
    }
    const me = (await store.users.byId(user.userId))!;
    const { username, email, display_name, avatar_url } = me;
    const saved = status === 200;
    ctx.state.title = saved ? "Profile" : "Error: Profile";
    const typed = saved
      ? undefined
      : { display_name: fields.display_name ?? "", avatar_url: fields.avatar_url ?? "" };
    return page({ username, email, display_name, avatar_url, errors, saved, typed }, { status });
  },
});

/** An uploaded avatar as a `data:` URL; `undefined`, with the problem recorded, when it is not one we take. */
async function fileToDataUrl(file: File, problems: FieldProblems): Promise<string | undefined> {
  if (!AVATAR_TYPES.includes(file.type)) {
    problems.add("avatar_file", "The image must be a PNG, JPEG, GIF or WebP file");
  } else if (file.size > MAX_AVATAR_BYTES) {
    problems.add("avatar_file", `The image must be at most ${MAX_AVATAR_BYTES / 1024} KB`);
  } else {
    return `data:${file.type};base64,${encodeBase64(new Uint8Array(await file.arrayBuffer()))}`;
  }
}

export default function Profile({ data }: PageProps<Data, State>) {
  return (
    <div class="settings">
      <SettingsNav current="/profile" />
      <section class="card profile" aria-labelledby="profile-title">
        <h1 id="profile-title">Profile</h1>
        <p>
          <strong>@{data.username}</strong> <span class="muted">{data.email}</span>
        </p>
        {data.avatar_url && (
          <img class="avatar large" src={data.avatar_url} alt="Your avatar" width={96} height={96} />
        )}
        {data.saved && <p class="notice" role="status">Saved.</p>}
        <ErrorSummary id="profile-errors" problems={problemsOf(data.errors, PROFILE_INPUTS)} />
        <form method="post" enctype="multipart/form-data" id="profile-form">
          <Field
            id={PROFILE_INPUTS.display_name}
            name="display_name"
            label="Display name"
            value={data.typed?.display_name ?? data.display_name ?? ""}
            error={data.errors.display_name}
            maxLength={64}
            summarised
          />
          <Field
            id={PROFILE_INPUTS.avatar_url}
            name="avatar_url"
            label="Avatar URL (https)"
            type="url"
            value={data.typed?.avatar_url ?? (data.avatar_url?.startsWith("https:") ? data.avatar_url : "")}
            error={data.errors.avatar_url}
            summarised
          />
          <Field
            id={PROFILE_INPUTS.avatar_file}
            name="avatar_file"
            label="Or upload an image (PNG, JPEG, GIF, WebP; up to 256 KB)"
            type="file"
            accept={AVATAR_TYPES.join(",")}
            error={data.errors.avatar_file}
            summarised
          />
          {data.avatar_url && (
            <div class="check">
              <input type="checkbox" id="remove-avatar" name="remove_avatar" />
              <label for="remove-avatar">Remove my avatar</label>
            </div>
          )}
          <button type="submit">Save</button>
        </form>
      </section>
    </div>
  );
}
