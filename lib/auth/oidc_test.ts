import assert from "node:assert/strict";
import { base64url } from "jose";
import {
  cancelAtProvider,
  loginAtProvider,
  type OidcProviderOptions,
  type OidcTestProvider,
  startOidcProvider,
} from "../../tests/helpers/oidc_provider.ts";
import {
  decodePending,
  encodePending,
  OidcError,
  type OidcErrorCode,
  OidcLogin,
  type OidcPending,
  PENDING_TTL_MS,
} from "./oidc.ts";

const CLIENT_ID = "chat-server";
const CLIENT_SECRET = "a-client-secret-for-the-tests-only";
const REDIRECT_URI = "http://127.0.0.1:8000/auth/oidc/callback";
const SECRET = "a-sealing-secret-that-is-at-least-32-bytes";

const ACCOUNTS = [
  {
    sub: "alice-0001",
    email: "alice@example.com",
    email_verified: true,
    name: "Alice Liddell",
    preferred_username: "alice",
    password: "wonderland",
  },
  { sub: "bob-0002", email: "bob@example.com", email_verified: false, name: "Bob" },
  { sub: "carol-0003", email_verified: true, name: "Carol" },
];

async function withProvider(
  fn: (provider: OidcTestProvider, oidc: OidcLogin) => Promise<void>,
  options: Partial<OidcProviderOptions> = {},
): Promise<void> {
  const provider = await startOidcProvider({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUris: [REDIRECT_URI],
    accounts: ACCOUNTS,
    ...options,
  });
  try {
    const oidc = await OidcLogin.discover(
      { issuer: provider.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, name: "Acme ID" },
      { allowHttp: true },
    );
    await fn(provider, oidc);
  } finally {
    await provider.close();
  }
}

async function refusedWith(promise: Promise<unknown>, code: OidcErrorCode, message: string): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof OidcError, `expected an OidcError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("oidc: a full login returns the identity, its email and profile from the userinfo endpoint", async () => {
  await withProvider(async (provider, oidc) => {
    assert.equal(oidc.name, "Acme ID");
    assert.equal(oidc.issuer, provider.issuer);
    const { url, pending } = await oidc.start(REDIRECT_URI, "/rooms/general");
    assert.equal(pending.next, "/rooms/general");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
    assert.equal(callback.searchParams.get("state"), pending.state);

    const identity = await oidc.finish(callback, pending, REDIRECT_URI);
    assert.deepEqual(identity, {
      issuer: provider.issuer,
      subject: "alice-0001",
      email: "alice@example.com",
      emailVerified: true,
      name: "Alice Liddell",
      preferredUsername: "alice",
    });
    // The default provider puts only `sub` in a code flow's ID token: the claims came from userinfo.
    assert.equal(provider.requests.filter((request) => request === "POST /token").length, 1);
    assert.equal(provider.requests.filter((request) => request === "GET /me").length, 1);
  });
});

Deno.test("oidc: claims in the ID token are used without asking the userinfo endpoint", async () => {
  await withProvider(async (provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const callback = await loginAtProvider(url, "alice@example.com", "wonderland");
    // The server behind a proxy sees another origin: only the callback's query counts.
    const seen = new URL(`http://10.0.0.5:8000/auth/oidc/callback${callback.search}`);
    const identity = await oidc.finish(seen, pending, REDIRECT_URI);
    assert.deepEqual(identity, {
      issuer: provider.issuer,
      subject: "alice-0001",
      email: "alice@example.com",
      emailVerified: true,
      name: "Alice Liddell",
      preferredUsername: "alice",
    });
    assert.equal(provider.requests.filter((request) => request === "POST /token").length, 1);
    assert.equal(provider.requests.filter((request) => request.endsWith(" /me")).length, 0);
  }, { claimsInIdToken: true });
});

Deno.test("oidc: the authorization URL asks for a code with PKCE S256, state, nonce and the scopes", async () => {
  await withProvider(async (provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    assert.equal(url.origin, provider.issuer);
    assert.equal(url.pathname, "/auth");
    const params = url.searchParams;
    assert.equal(params.get("response_type"), "code");
    assert.equal(params.get("client_id"), CLIENT_ID);
    assert.equal(params.get("redirect_uri"), REDIRECT_URI);
    assert.equal(params.get("scope"), "openid email profile");
    assert.equal(params.get("state"), pending.state);
    assert.equal(params.get("nonce"), pending.nonce);
    assert.equal(params.get("code_challenge_method"), "S256");
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier));
    assert.equal(params.get("code_challenge"), base64url.encode(new Uint8Array(digest)));
    assert.equal(params.has("code_verifier"), false);
    assert.ok(pending.verifier.length >= 43, pending.verifier);

    const again = await oidc.start(REDIRECT_URI, "/");
    assert.notEqual(again.pending.state, pending.state);
    assert.notEqual(again.pending.nonce, pending.nonce);
    assert.notEqual(again.pending.verifier, pending.verifier);
  });
});

Deno.test("oidc: start keeps only a local path to go to next", async () => {
  await withProvider(async (_provider, oidc) => {
    const next = async (value: string) => (await oidc.start(REDIRECT_URI, value)).pending.next;
    assert.equal(await next("/rooms/general?x=1#m-9"), "/rooms/general?x=1#m-9");
    assert.equal(await next("//evil.example/path"), "/");
    assert.equal(await next("/\\evil.example"), "/");
    assert.equal(await next("https://evil.example/"), "/");
    assert.equal(await next("rooms"), "/");
    assert.equal(await next("/a\nb"), "/");
  });
});

Deno.test("oidc: a callback with a wrong or missing state is refused before the code is exchanged", async () => {
  await withProvider(async (provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    const message = "This sign-in answer does not belong to the sign-in started in this browser; start again";

    const wrong = new URL(callback);
    wrong.searchParams.set("state", "forged-state");
    await refusedWith(oidc.finish(wrong, pending, REDIRECT_URI), "oidc_state_mismatch", message);
    const missing = new URL(callback);
    missing.searchParams.delete("state");
    await refusedWith(oidc.finish(missing, pending, REDIRECT_URI), "oidc_state_mismatch", message);
    const other = await oidc.start(REDIRECT_URI, "/");
    await refusedWith(oidc.finish(callback, other.pending, REDIRECT_URI), "oidc_state_mismatch", message);
    assert.equal(provider.requests.includes("POST /token"), false);

    // The code is still good for the sign-in it belongs to.
    assert.equal((await oidc.finish(callback, pending, REDIRECT_URI)).subject, "alice-0001");
  });
});

Deno.test("oidc: a callback finished with a pending whose nonce differs is refused", async () => {
  await withProvider(async (_provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    await refusedWith(
      oidc.finish(callback, { ...pending, nonce: "a-nonce-of-another-sign-in" }, REDIRECT_URI),
      "oidc_nonce_mismatch",
      "The sign-in answer from Acme ID was not made for this sign-in; start again",
    );
  });
});

Deno.test("oidc: a code used twice is refused", async () => {
  await withProvider(async (provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    assert.equal((await oidc.finish(callback, pending, REDIRECT_URI)).email, "alice@example.com");
    await refusedWith(
      oidc.finish(callback, pending, REDIRECT_URI),
      "oidc_failed",
      "Acme ID refused the sign-in code (used already, expired, or not for this sign-in); start again",
    );
    assert.equal(provider.requests.filter((request) => request === "POST /token").length, 2);
  });
});

Deno.test("oidc: a code exchanged with another PKCE verifier is refused by the provider", async () => {
  await withProvider(async (_provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const other = await oidc.start(REDIRECT_URI, "/");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    await refusedWith(
      oidc.finish(callback, { ...pending, verifier: other.pending.verifier }, REDIRECT_URI),
      "oidc_failed",
      "Acme ID refused the sign-in code (used already, expired, or not for this sign-in); start again",
    );
  });
});

Deno.test("oidc: the provider requires PKCE: an authorization request without a challenge is refused", async () => {
  await withProvider(async (provider, oidc) => {
    const { url } = await oidc.start(REDIRECT_URI, "/");
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
    const callback = await loginAtProvider(url, "alice", "wonderland");
    assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
    assert.equal(callback.searchParams.get("error"), "invalid_request");
    assert.equal(
      callback.searchParams.get("error_description"),
      "Authorization Server policy requires PKCE to be used for this request",
    );
    assert.equal(callback.searchParams.get("code"), null);
    assert.equal(provider.requests.some((request) => request.startsWith("POST /interaction/")), false);
  });
});

Deno.test("oidc: an account whose email is not verified, or not shared, is refused", async () => {
  await withProvider(async (_provider, oidc) => {
    const bob = await oidc.start(REDIRECT_URI, "/");
    await refusedWith(
      oidc.finish(await loginAtProvider(bob.url, "bob-0002"), bob.pending, REDIRECT_URI),
      "oidc_email_unverified",
      "Acme ID has not verified your email address bob@example.com; verify it there and try again",
    );
    const carol = await oidc.start(REDIRECT_URI, "/");
    await refusedWith(
      oidc.finish(await loginAtProvider(carol.url, "carol-0003"), carol.pending, REDIRECT_URI),
      "oidc_email_unverified",
      "Acme ID did not share your email address; allow it to share your email and try again",
    );
  });
});

Deno.test("oidc: a sign-in cancelled at the provider is refused with its reason", async () => {
  await withProvider(async (provider, oidc) => {
    const { url, pending } = await oidc.start(REDIRECT_URI, "/");
    const callback = await cancelAtProvider(url);
    assert.equal(callback.searchParams.get("error"), "access_denied");
    await refusedWith(
      oidc.finish(callback, pending, REDIRECT_URI),
      "oidc_failed",
      "Acme ID did not sign you in: The user cancelled the sign-in",
    );
    assert.equal(provider.requests.includes("POST /token"), false);
  });
});

Deno.test("oidc test provider: a wrong password is refused on its login page", async () => {
  await withProvider(async (_provider, oidc) => {
    const { url } = await oidc.start(REDIRECT_URI, "/");
    await assert.rejects(
      loginAtProvider(url, "alice", "looking-glass"),
      (error: Error) => error.message.endsWith(": Wrong login or password"),
    );
  });
});

Deno.test("oidc: discovery refuses an http issuer unless allowed, and reports an unreachable one", async () => {
  await withProvider(async (provider) => {
    const settings = {
      issuer: provider.issuer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      name: "Acme ID",
    };
    await refusedWith(
      OidcLogin.discover(settings),
      "oidc_failed",
      `The OpenID Connect issuer must be an https URL, not ${provider.issuer}/`,
    );
    await refusedWith(
      OidcLogin.discover({ ...settings, issuer: "not a url" }),
      "oidc_failed",
      'The OpenID Connect issuer "not a url" is not a URL',
    );
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const unreachable = `http://127.0.0.1:${closed.addr.port}`;
    closed.close();
    await assert.rejects(
      OidcLogin.discover({ ...settings, issuer: unreachable }, { allowHttp: true }),
      (error) => {
        assert.ok(error instanceof OidcError);
        assert.equal(error.code, "oidc_failed");
        assert.ok(
          error.message.startsWith(`OpenID Connect discovery at ${unreachable}/ failed: `),
          error.message,
        );
        return true;
      },
    );
    // An issuer that does not match the one the metadata names.
    const alias = provider.issuer.replace("127.0.0.1", "localhost");
    await assert.rejects(OidcLogin.discover({ ...settings, issuer: alias }, { allowHttp: true }), (error) => {
      assert.ok(error instanceof OidcError);
      assert.equal(error.code, "oidc_failed");
      assert.ok(error.message.startsWith(`OpenID Connect discovery at ${alias}/ failed: `), error.message);
      return true;
    });
  });
});

const PENDING: OidcPending = {
  state: "state-abc",
  nonce: "nonce-def",
  verifier: "verifier-0123456789-0123456789-0123456789-01",
  next: "/rooms/general",
  created: Date.now(),
};

Deno.test("oidc pending: sealed and opened again with the same secret", async () => {
  const sealed = await encodePending(PENDING, SECRET);
  assert.match(sealed, /^[A-Za-z0-9_-]+$/);
  const bytes = new TextDecoder().decode(base64url.decode(sealed));
  assert.equal(
    bytes.includes("state-abc") || bytes.includes("verifier-0123") || bytes.includes("/rooms"),
    false,
  );
  assert.deepEqual(await decodePending(sealed, SECRET), PENDING);
  // A fresh IV each time.
  assert.notEqual(await encodePending(PENDING, SECRET), sealed);
});

Deno.test("oidc pending: a changed, foreign, missing or malformed value is refused", async () => {
  const sealed = await encodePending(PENDING, SECRET);
  const message = "This browser has no valid sign-in in progress; start again";
  const at = Math.floor(sealed.length / 2);
  const flipped = sealed.slice(0, at) + (sealed[at] === "A" ? "B" : "A") + sealed.slice(at + 1);
  await refusedWith(decodePending(flipped, SECRET), "oidc_state_mismatch", message);
  await refusedWith(decodePending(sealed.slice(0, -2), SECRET), "oidc_state_mismatch", message);
  await refusedWith(
    decodePending(sealed, "another-sealing-secret-of-32-bytes-or-more"),
    "oidc_state_mismatch",
    message,
  );
  await refusedWith(decodePending(undefined, SECRET), "oidc_state_mismatch", message);
  await refusedWith(decodePending("", SECRET), "oidc_state_mismatch", message);
  await refusedWith(decodePending("not base64url!", SECRET), "oidc_state_mismatch", message);
  await refusedWith(decodePending("AAAA", SECRET), "oidc_state_mismatch", message);
});

Deno.test("oidc pending: refused once older than 10 minutes", async () => {
  const sealed = await encodePending(PENDING, SECRET);
  assert.deepEqual(await decodePending(sealed, SECRET, PENDING.created + PENDING_TTL_MS), PENDING);
  await refusedWith(
    decodePending(sealed, SECRET, PENDING.created + PENDING_TTL_MS + 1),
    "oidc_failed",
    "The sign-in took longer than 10 minutes; start again",
  );
  const old = await encodePending({ ...PENDING, created: Date.now() - PENDING_TTL_MS - 1000 }, SECRET);
  await refusedWith(
    decodePending(old, SECRET),
    "oidc_failed",
    "The sign-in took longer than 10 minutes; start again",
  );
});

Deno.test("oidc pending: a secret shorter than 32 bytes is refused", async () => {
  await assert.rejects(
    encodePending(PENDING, "short"),
    new Error("The secret sealing OIDC state must be at least 32 bytes long"),
  );
});
