import { encodeBase64 } from "../lib/web/base64.ts";
import { Field } from "../components/Field.tsx";
import { AVATAR_TYPES, MAX_AVATAR_BYTES, parseProfileUpdate } from "../lib/chat/profile.ts";
import { page, type PageProps } from "../lib/fresh/mod.ts";
import { ChatError } from "../lib/errors.ts";
import type { ProfileUpdate } from "../lib/storage/store.ts";
import { formError } from "../lib/web/form_errors.ts";
import { signedIn } from "../lib/web/guard.ts";
import { define, readForm, type State } from "../utils.ts";

interface Data {
  username: string;
  email: string;
  display_name: string | null;
  avatar_url: string | null;
  errors: Record<string, string>;
  saved: boolean;
}

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
    ctx.state.title = "Profile";
    const { store } = ctx.state.services;
    const { fields, form } = await readForm(ctx.req);
    let errors: Record<string, string> = {};
    let status = 200;
    try {
      const update: ProfileUpdate = parseProfileUpdate({
        display_name: (fields.display_name ?? "").trim() === "" ? null : fields.display_name.trim(),
      });
      const file = form.get("avatar_file");
      if (fields.remove_avatar === "on") update.avatar_url = null;
      else if (file instanceof File && file.size > 0) update.avatar_url = await fileToDataUrl(file);
      else if ((fields.avatar_url ?? "").trim() !== "") {
        Object.assign(update, parseProfileUpdate({ avatar_url: fields.avatar_url.trim() }));
      }
      await store.users.updateProfile(user.userId, update);
    } catch (error) {
      ({ errors, status } = formError(error, ["display_name", "avatar_url"]));
    }
    const me = (await store.users.byId(user.userId))!;
    const { username, email, display_name, avatar_url } = me;
    return page({ username, email, display_name, avatar_url, errors, saved: status === 200 }, { status });
  },
});

async function fileToDataUrl(file: File): Promise<string> {
  if (!AVATAR_TYPES.includes(file.type)) {
    throw new ChatError("invalid_avatar_url", "An avatar must be a PNG, JPEG, GIF or WebP image");
  }
  if (file.size > MAX_AVATAR_BYTES) {
    throw new ChatError(
      "invalid_avatar_url",
      `An avatar image must be at most ${MAX_AVATAR_BYTES / 1024} KB`,
    );
  }
  return `data:${file.type};base64,${encodeBase64(new Uint8Array(await file.arrayBuffer()))}`;
}

export default function Profile({ data }: PageProps<Data, State>) {
  return (
    <section class="card profile" aria-labelledby="profile-title">
      <h1 id="profile-title">Profile</h1>
      <p>
        <strong>@{data.username}</strong> <span class="muted">{data.email}</span>
      </p>
      {data.avatar_url && (
        <img class="avatar large" src={data.avatar_url} alt="Your avatar" width={96} height={96} />
      )}
      {data.saved && <p class="notice" role="status">Saved.</p>}
      {data.errors._form && <p class="error" role="alert">{data.errors._form}</p>}
      <form method="post" enctype="multipart/form-data" id="profile-form">
        <Field
          id="display-name"
          name="display_name"
          label="Display name"
          value={data.display_name ?? ""}
          error={data.errors.display_name}
          maxLength={64}
        />
        <Field
          id="avatar-url"
          name="avatar_url"
          label="Avatar URL (https)"
          type="url"
          value={data.avatar_url?.startsWith("https:") ? data.avatar_url : ""}
          error={data.errors.avatar_url}
        />
        <div class="field">
          <label for="avatar-file">Or upload an image (PNG, JPEG, GIF, WebP; up to 256 KB)</label>
          <input id="avatar-file" name="avatar_file" type="file" accept={AVATAR_TYPES.join(",")} />
        </div>
        {data.avatar_url && (
          <div class="check">
            <input type="checkbox" id="remove-avatar" name="remove_avatar" />
            <label for="remove-avatar">Remove my avatar</label>
          </div>
        )}
        <button type="submit">Save</button>
      </form>
    </section>
  );
}
