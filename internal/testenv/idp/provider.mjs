// AMP's test and demo OpenID Connect provider: the certified npm library
// oidc-provider, with accounts and groups read from an LDAP directory (slapd)
// through ldapts. A user logs in with their LDAP password on a plain HTML
// form (authorization-code flow with PKCE); their LDAP groups (groupOfNames
// entries whose member is the user) become the "groups" claim of the ID
// token, read afresh at every login, so a directory change shows up in the
// next token.
//
// Started by internal/testenv/idp (Go) and by the commands in
// docs/identity.md. Configuration comes from the environment:
//   IDP_ISSUER        issuer URL, e.g. http://127.0.0.1:5556 (required)
//   IDP_PORT          port to listen on (loopback only)       (required)
//   IDP_CLIENT_ID     public client id (default "amp")
//   IDP_REDIRECT_URIS space-separated redirect URIs (default http://127.0.0.1/callback)
//   IDP_APPLICATION_TYPE  the client's: native (default: a CLI's loopback
//                     redirect) or web (a browser application's https redirect)
//   IDP_ID_TOKEN_TTL  ID token lifetime in seconds (default 3600)
//   LDAP_URL          e.g. ldap://127.0.0.1:3389                 (required)
//   LDAP_BASE         e.g. dc=amp,dc=test                          (required)
//   LDAP_ADMIN_DN, LDAP_ADMIN_PW  a DN allowed to search groups    (required)
// It prints "ready <issuer>" on stdout once it listens.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { Client } from 'ldapts';

const env = (k, d) => {
  const v = process.env[k];
  if (v === undefined || v === '') {
    if (d === undefined) { console.error(`provider.mjs: ${k} is required`); process.exit(2); }
    return d;
  }
  return v;
};
const issuer = env('IDP_ISSUER');
const port = Number(env('IDP_PORT'));
const clientId = env('IDP_CLIENT_ID', 'amp');
const redirectUris = env('IDP_REDIRECT_URIS', 'http://127.0.0.1/callback').split(/\s+/);
const applicationType = env('IDP_APPLICATION_TYPE', 'native');
const idTokenTTL = Number(env('IDP_ID_TOKEN_TTL', '3600'));
const ldapURL = env('LDAP_URL');
const base = env('LDAP_BASE');
const adminDN = env('LDAP_ADMIN_DN');
const adminPW = env('LDAP_ADMIN_PW');

const userRE = /^[A-Za-z0-9._-]{1,64}$/;
const userDN = (uid) => `uid=${uid},ou=people,${base}`;

// ldapUser returns {uid, cn, mail, groups} read as the directory admin, or
// undefined if there is no such user.
async function ldapUser(uid) {
  if (!userRE.test(uid)) return undefined;
  const c = new Client({ url: ldapURL, timeout: 5000, connectTimeout: 5000 });
  try {
    await c.bind(adminDN, adminPW);
    const { searchEntries: users } = await c.search(`ou=people,${base}`, {
      scope: 'one', filter: `(uid=${uid})`, attributes: ['uid', 'cn', 'mail'],
    });
    if (users.length !== 1) return undefined;
    const { searchEntries: groups } = await c.search(`ou=groups,${base}`, {
      scope: 'sub', filter: `(&(objectClass=groupOfNames)(member=${userDN(uid)}))`, attributes: ['cn'],
    });
    const one = (v) => (Array.isArray(v) ? v[0] : v);
    return {
      uid,
      cn: one(users[0].cn),
      mail: one(users[0].mail),
      groups: groups.map((g) => String(one(g.cn))).sort(),
    };
  } finally {
    await c.unbind().catch(() => {});
  }
}

// ldapCheckPassword binds as the user: the directory decides.
async function ldapCheckPassword(uid, password) {
  if (!userRE.test(uid) || !password) return false;
  const c = new Client({ url: ldapURL, timeout: 5000, connectTimeout: 5000 });
  try {
    await c.bind(userDN(uid), password);
    return true;
  } catch (e) {
    if (e && e.code === 49) return false; // invalid credentials
    throw e;
  } finally {
    await c.unbind().catch(() => {});
  }
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    application_type: applicationType,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  // Put the scope's claims in the ID token itself (AMP verifies ID tokens).
  conformIdTokenClaims: false,
  ttl: { IdToken: idTokenTTL, AccessToken: idTokenTTL, Interaction: 600, Session: 3600, Grant: 3600 },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // AMP is a first-party client: consent is implied, never asked.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const g = await ctx.oidc.provider.Grant.find(grantId);
      if (g) return g;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid offline_access profile email groups');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const u = await ldapUser(id);
    if (!u) return undefined;
    return {
      accountId: id,
      async claims() {
        // Read again: the groups are those of the directory at issue time.
        const now = (await ldapUser(id)) || u;
        return { sub: id, name: now.cn, preferred_username: id, email: now.mail, groups: now.groups };
      },
    };
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
function loginPage(res, uid, status, message) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!doctype html><html><head><title>AMP sign-in</title></head><body>
<h1>Sign in to AMP</h1>${message ? `<p class="error">${esc(message)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>User <input name="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1 << 16) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const providerHandler = provider.callback();
const server = http.createServer(async (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(req.url.split('?')[0]);
  if (!m) return providerHandler(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) throw new Error('interaction mismatch');
    if (req.method === 'GET' && !m[2]) {
      if (details.prompt.name === 'consent') {
        // AMP is a first-party client: consent is implied, never asked. (Native
        // clients always get this prompt; it is answered here without a page.)
        let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
        if (!grant) grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        const pd = details.prompt.details;
        if (pd.missingOIDCScope) grant.addOIDCScope(pd.missingOIDCScope.join(' '));
        if (pd.missingOIDCClaims) grant.addOIDCClaims(pd.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(pd.missingResourceScopes || {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        return await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
      return loginPage(res, details.uid, 200);
    }
    if (req.method === 'POST' && m[2]) {
      const form = await readForm(req);
      const user = form.get('username') || '';
      const ok = await ldapCheckPassword(user, form.get('password') || '');
      if (!ok) {
        console.error(`login failed for ${JSON.stringify(user)}`);
        return loginPage(res, details.uid, 401, 'Invalid user or password.');
      }
      console.error(`login ok for ${user}`);
      return await provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
    }
    res.statusCode = 405;
    res.end('method not allowed');
  } catch (e) {
    console.error('interaction error:', e);
    res.statusCode = e.statusCode || 500;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`interaction error: ${e.message}`);
  }
});

provider.on('server_error', (ctx, err) => console.error('server_error:', err));
server.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
