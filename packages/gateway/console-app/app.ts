/**
 * The approver console in the browser (issue 14). It holds no authority of
 * its own: every list, verdict and decision is the gateway's `/v1` API,
 * called with the session cookie and, for any change, the session's CSRF
 * token. Plain DOM, no framework: every control is a real button, link or
 * form field, so the console works from the keyboard alone.
 */

import { statementText, type StatementFields } from '@countersign/core/browser';
import { browserSupportsWebAuthn, startAuthentication, startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';

interface Session {
  readonly principal: string;
  readonly surface: string;
  readonly csrf: string;
}

interface SignInWays {
  readonly oidc: boolean;
  readonly token: boolean;
}

interface Approval {
  readonly approver: string;
  readonly decision: 'approve' | 'deny';
  readonly surface: string;
  readonly attestation: string;
  readonly signed_at: string;
}

interface RequestView {
  readonly id: string;
  readonly status: string;
  readonly digest: string;
  readonly bundle_id: string | null;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly params: Record<string, unknown>;
  readonly risk: string;
  readonly class: string | null;
  readonly rationale: string | null;
  readonly expected_consequence: string | null;
  readonly rollback_plan: string | null;
  readonly incident: string | null;
  readonly agent: string;
  readonly on_behalf_of: string;
  readonly surface: string;
  readonly requirements: { readonly quorum: { roles: string[]; count: number }[]; readonly surfaces: string[]; readonly attestation: 'key' | 'any' };
  readonly approvals: Approval[];
  readonly opened_at: string;
  readonly expires_at: string;
  readonly awaiting_rollback: boolean;
  readonly approvable?: { readonly by_you: boolean; readonly reasons: string[] };
}

interface PasskeyView {
  readonly credential_id: string;
  readonly principal: string;
  readonly algorithm: number;
  readonly origin: string;
  readonly registered_at: string;
  readonly revoked_at: string | null;
  readonly revoked_by: string | null;
}

interface ApiFailure {
  readonly error: { readonly code: string; readonly message: string };
}

/** What each refusal code means to the person reading it; the code itself is always shown too. */
const MEANINGS: Record<string, string> = {
  SELF_APPROVAL: 'you asked for this step, or it is on your behalf: someone independent must approve it',
  REPORTS_TO_REQUESTER: 'you report to the person who asked: you cannot approve this',
  SURFACE_NOT_ALLOWED: 'approvals for this request cannot come from this surface, or it came from the one you are using',
  ROLE_NOT_ELIGIBLE: 'none of your roles can fill what this request still needs',
  DUPLICATE_APPROVER: 'you have already decided this request',
  CREDENTIAL_REUSED: 'this session already decided this request',
  ATTESTATION_REQUIRED: 'this risk class needs a signature with your own key: a registered passkey or the signed CLI',
  BAD_SIGNATURE: 'the signature did not verify against a key registered to you (a revoked passkey, or another person’s)',
  PASSKEY_EXISTS: 'this passkey is already registered',
  PASSKEY_UNKNOWN: 'no registered passkey has this id',
  PASSKEY_NOT_YOURS: 'only its owner or a token administrator revokes a passkey',
  PASSKEY_REGISTRATION_FAILED: 'the authenticator’s answer did not verify',
  PASSKEY_CANCELLED: 'the browser or the authenticator did not sign: nothing was sent',
  UNKNOWN_APPROVER: 'you are not in the policy’s roster',
  REQUEST_CLOSED: 'this request is no longer open',
  REQUEST_EXPIRED: 'this request expired before it was decided',
  BUNDLE_CHANGED: 'the policy changed since the request was opened',
  AGENT_CANNOT_APPROVE: 'agents never approve',
  CSRF_FAILED: 'the page lost its session token: reload it',
  FORBIDDEN: 'your session may not do this',
};

const main = document.getElementById('main') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
let session: Session | null = null;
let live: EventSource | null = null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function meaning(code: string): string {
  return MEANINGS[code] ?? 'refused by the policy';
}

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ ok: true; value: T } | { ok: false; status: number; error: ApiFailure['error'] }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST' && session !== null) headers['x-countersign-csrf'] = session.csrf;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  const parsed = (text === '' ? {} : JSON.parse(text)) as T | ApiFailure;
  if (!response.ok) {
    const error = (parsed as ApiFailure).error ?? { code: `HTTP_${response.status}`, message: response.statusText };
    return { ok: false, status: response.status, error };
  }
  return { ok: true, value: parsed as T };
}

function show(...nodes: Node[]): void {
  main.replaceChildren(...nodes);
  main.focus();
}

function navigate(path: string): void {
  history.pushState(null, '', path);
  void route();
}

function link(path: string, text: string): HTMLAnchorElement {
  const a = el('a', { href: path }, text);
  a.addEventListener('click', (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(path);
  });
  return a;
}

function age(iso: string): string {
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60_000);
  return minutes < 1 ? 'just now' : minutes < 60 ? `${minutes} min ago` : `${Math.round(minutes / 60)} h ago`;
}

// ---- signing in ------------------------------------------------------------

async function signIn(ways: SignInWays): Promise<void> {
  who.textContent = '';
  const parts: Node[] = [el('h1', {}, 'Sign in'), el('p', {}, 'Approvals are signed as you, so the console needs to know who you are.')];
  if (ways.oidc) parts.push(el('p', {}, el('a', { class: 'button', href: '/console/login', id: 'sign-in' }, 'Sign in with your organisation')));
  if (ways.token) {
    const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off' });
    const form = el('form', { id: 'token-sign-in' }, el('label', { for: 'token' }, 'Development only: a token for this console’s surface', input), el('button', { type: 'submit' }, 'Sign in with a token'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void fetch('/console/login/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }) }).then(() => start());
    });
    parts.push(form);
  }
  if (!ways.oidc && !ways.token) parts.push(el('p', {}, 'This gateway has no sign-in configured: start it with --oidc-issuer (see docs/console.md).'));
  show(...parts);
}

function signedInAs(current: Session): void {
  const out = el('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  out.addEventListener('click', () => {
    void api('POST', '/console/logout').then(() => start());
  });
  who.replaceChildren(`${current.principal} · ${current.surface} `, link('/console/passkeys', 'Passkeys'), ' ', out);
}

// ---- the inbox ---------------------------------------------------------------

interface Filters {
  environment: string;
  incident: string;
  risk: string;
}
const filters: Filters = { environment: '', incident: '', risk: '' };

async function listAll(query: string): Promise<RequestView[]> {
  const all: RequestView[] = [];
  let cursor: string | null = null;
  // bounded: 50 pages of 200
  for (let page = 0; page < 50; page++) {
    const answer: Awaited<ReturnType<typeof api<{ requests: RequestView[]; next_cursor: string | null }>>> = await api('GET', `/v1/requests?${query}&limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    if (!answer.ok) throw new Error(`${answer.error.code}: ${answer.error.message}`);
    all.push(...answer.value.requests);
    cursor = answer.value.next_cursor;
    if (cursor === null) break;
  }
  return all;
}

function requestRow(r: RequestView): HTMLTableRowElement {
  const mine = r.approvable?.by_you === true;
  return el(
    'tr',
    { 'data-request': r.id },
    el('td', {}, link(`/console/requests/${encodeURIComponent(r.id)}`, r.action)),
    el('td', {}, r.environment),
    el('td', {}, el('code', {}, r.target)),
    el('td', {}, r.risk),
    el('td', {}, r.incident ?? '—'),
    el('td', {}, `${r.agent} for ${r.on_behalf_of}`),
    el('td', {}, age(r.opened_at)),
    el('td', {}, el('span', { class: `badge ${mine ? 'yes' : 'no'}` }, mine ? 'you can approve' : (r.approvable?.reasons[0] ?? 'read only'))),
  );
}

function table(rows: RequestView[], id: string): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'muted', id }, 'Nothing here.');
  const head = el('tr', {}, ...['Action', 'Env', 'Target', 'Risk', 'Incident', 'Asked by', 'Opened', 'You'].map((h) => el('th', { scope: 'col' }, h)));
  return el('table', { id }, el('thead', {}, head), el('tbody', {}, ...rows.map(requestRow)));
}

function select(name: keyof Filters, label: string, values: string[]): HTMLLabelElement {
  const box = el('select', { id: `filter-${name}`, name }, el('option', { value: '' }, 'all'), ...values.map((v) => el('option', { value: v }, v)));
  box.value = filters[name];
  box.addEventListener('change', () => {
    filters[name] = box.value;
    void inbox();
  });
  return el('label', { for: `filter-${name}` }, label, box);
}

async function inbox(): Promise<void> {
  const open = await listAll('status=open');
  const pass = (r: RequestView): boolean =>
    (filters.environment === '' || r.environment === filters.environment) && (filters.incident === '' || r.incident === filters.incident) && (filters.risk === '' || r.risk === filters.risk);
  const distinct = (pick: (r: RequestView) => string | null): string[] => [...new Set(open.map(pick).filter((v): v is string => v !== null))].sort();
  const shown = open.filter(pass);
  const yours = shown.filter((r) => r.approvable?.by_you === true);
  const others = shown.filter((r) => r.approvable?.by_you !== true);
  show(
    el('h1', {}, 'Inbox'),
    el('div', { class: 'filters' }, select('environment', 'Environment', distinct((r) => r.environment)), select('incident', 'Incident', distinct((r) => r.incident)), select('risk', 'Risk', distinct((r) => r.risk))),
    el('h2', {}, `Waiting for you (${yours.length})`),
    table(yours, 'yours'),
    el('h2', {}, `Everything else open (${others.length})`),
    table(others, 'others'),
  );
}

// ---- one request -------------------------------------------------------------

function statementFor(r: RequestView, current: Session, decision: 'approve' | 'deny', reason: string): Record<string, string> {
  return {
    request: r.id,
    step_digest: r.digest,
    bundle_id: r.bundle_id ?? '',
    decision,
    approver: current.principal,
    surface: current.surface,
    reason,
    signed_at: new Date().toISOString(),
  };
}

// ---- passkeys ----------------------------------------------------------------

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The WebAuthn challenge for a statement, computed here from the statement
 * this page shows (core's statement text, hashed with WebCrypto): the
 * authenticator signs exactly this step under this bundle, whatever anyone
 * else says the challenge is. The gateway derives it the same way.
 */
async function passkeyChallenge(statement: StatementFields): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(statementText(statement, 'passkey')));
  return base64url(new Uint8Array(digest));
}

/** This person's passkeys registered for this console's origin, not revoked. */
async function usablePasskeys(): Promise<PasskeyView[]> {
  const answer = await api<{ passkeys: PasskeyView[] }>('GET', '/v1/passkeys');
  return answer.ok ? answer.value.passkeys.filter((p) => p.revoked_at === null && p.origin === location.origin) : [];
}

async function passkeysPage(): Promise<void> {
  const answer = await api<{ passkeys: PasskeyView[] }>('GET', '/v1/passkeys');
  const result = el('div', { id: 'passkey-result', role: 'alert' });
  const rows = answer.ok ? answer.value.passkeys : [];
  const list = el(
    'table',
    { id: 'passkeys' },
    el('thead', {}, el('tr', {}, ...['Passkey', 'Registered', 'Status', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el(
      'tbody',
      {},
      ...rows.map((p) => {
        const revoke = el('button', { type: 'button', class: 'deny' }, 'Revoke');
        revoke.addEventListener('click', () => {
          void (async () => {
            const done = await api<PasskeyView>('POST', `/v1/passkeys/${encodeURIComponent(p.credential_id)}/revoke`, {});
            if (done.ok) await passkeysPage();
            else show(el('p', { class: 'result no' }, `Refused: ${done.error.code} (${meaning(done.error.code)})`));
          })();
        });
        if (p.revoked_at !== null) revoke.setAttribute('disabled', '');
        return el('tr', {}, el('td', {}, el('code', {}, p.credential_id)), el('td', {}, p.registered_at), el('td', {}, p.revoked_at === null ? 'active' : `revoked by ${p.revoked_by ?? '?'} at ${p.revoked_at}`), el('td', {}, revoke));
      }),
    ),
  );
  const register = el('button', { type: 'button', id: 'register-passkey' }, 'Register a passkey');
  register.addEventListener('click', () => {
    void (async () => {
      const options = await api<PublicKeyCredentialCreationOptionsJSON>('POST', '/v1/passkeys/registration', {});
      if (!options.ok) {
        result.className = 'result no';
        result.textContent = `Refused: ${options.error.code} (${meaning(options.error.code)}). ${options.error.message}`;
        return;
      }
      let created;
      try {
        created = await startRegistration({ optionsJSON: options.value });
      } catch (err) {
        result.className = 'result no';
        result.textContent = `PASSKEY_CANCELLED (${meaning('PASSKEY_CANCELLED')}): ${err instanceof Error ? err.name : String(err)}`;
        return;
      }
      const done = await api<PasskeyView>('POST', '/v1/passkeys', created);
      if (done.ok) {
        await passkeysPage();
        const shown = document.getElementById('passkey-result');
        if (shown !== null) {
          shown.className = 'result yes';
          shown.textContent = `Registered passkey ${done.value.credential_id}: approvals that need your own key can now be signed with it.`;
        }
      } else {
        result.className = 'result no';
        result.textContent = `Refused: ${done.error.code} (${meaning(done.error.code)}). ${done.error.message}`;
      }
    })();
  });
  if (!browserSupportsWebAuthn()) register.setAttribute('disabled', '');
  show(
    el('p', {}, link('/console', '← Inbox')),
    el('h1', {}, 'Your passkeys'),
    el('p', { class: 'muted' }, 'A passkey signs an approval with a key only your device holds, over a challenge computed from the exact statement you approve. Risk classes that need your own key accept it. Registering one is recorded in the ledger, with this session.'),
    rows.length === 0 ? el('p', {}, 'No passkey registered yet.') : list,
    el('p', {}, register),
    result,
  );
}

async function requestPage(id: string): Promise<void> {
  const answer = await api<RequestView>('GET', `/v1/requests/${encodeURIComponent(id)}`);
  if (!answer.ok) {
    show(el('h1', {}, 'Request'), el('p', { class: 'result no' }, `${answer.error.code}: ${answer.error.message}`), el('p', {}, link('/console', 'Back to the inbox')));
    return;
  }
  const r = answer.value;
  // the verdict comes from the listing, computed by the gateway with the rules an approval meets
  const listed = await listAll(`status=${encodeURIComponent(r.status)}&digest=${encodeURIComponent(r.digest)}`);
  const verdict = listed.find((x) => x.id === r.id)?.approvable ?? { by_you: false, reasons: ['REQUEST_CLOSED'] };
  const current = session!;
  const needsKey = r.requirements.attestation === 'key';
  const params = el('pre', { id: 'params' }, JSON.stringify(r.params, null, 2));
  const fields: [string, Node | string][] = [
    ['Action', el('code', {}, r.action)],
    ['Target', el('code', {}, r.target)],
    ['Environment', r.environment],
    ['Risk class', `${r.risk}${r.class === null ? '' : ` (${r.class})`}`],
    ['Expected consequence', r.expected_consequence ?? '—'],
    ['Rationale', r.rationale ?? '—'],
    ['Parameters', params],
    ['Rollback plan', r.rollback_plan === null ? (r.awaiting_rollback ? 'required, not registered yet' : 'none registered') : r.rollback_plan],
    ['Asked by', `${r.agent} on behalf of ${r.on_behalf_of}, from ${r.surface}`],
    ['Incident', r.incident ?? '—'],
    ['Status', r.status],
    ['Opened / expires', `${r.opened_at} / ${r.expires_at}`],
    ['Required', `${r.requirements.quorum.map((q) => `${q.count} of ${q.roles.join(' or ')}`).join(', and ')}; through ${r.requirements.surfaces.join(' or ')}; ${needsKey ? 'signed with a key' : 'a signed-in click is enough'}`],
    ['Approvals so far', r.approvals.length === 0 ? 'none' : r.approvals.map((a) => `${a.approver} ${a.decision}d via ${a.surface} at ${a.signed_at}`).join('; ')],
  ];
  const details = el('dl', { id: 'details' }, ...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const verdictBox = el(
    'div',
    { class: `verdict ${verdict.by_you ? 'yes' : 'no'}`, id: 'verdict', role: 'status' },
    verdict.by_you ? 'You can approve or deny this request.' : `You cannot approve this: ${verdict.reasons.map((c) => `${c} (${meaning(c)})`).join('; ')}`,
  );
  const reason = el('textarea', { id: 'reason', rows: '2', maxlength: '500' });
  reason.value = 'checked the step, the target and the consequence';
  const preview = el('pre', { id: 'statement' }, JSON.stringify(statementFor(r, current, 'approve', reason.value), null, 2));
  reason.addEventListener('input', () => (preview.textContent = JSON.stringify(statementFor(r, current, 'approve', reason.value), null, 2)));
  const result = el('div', { id: 'result', role: 'alert' });
  const decide = async (decision: 'approve' | 'deny'): Promise<void> => {
    const statement = statementFor(r, current, decision, reason.value);
    preview.textContent = JSON.stringify(statement, null, 2);
    const path = `/v1/requests/${encodeURIComponent(r.id)}/${decision === 'approve' ? 'approvals' : 'denials'}`;
    const done = await api<{ status: string; quorum_met: boolean }>('POST', path, { statement, attestation: { kind: 'gateway' } });
    if (done.ok) {
      result.className = 'result yes';
      result.textContent = `${decision === 'approve' ? 'Approved' : 'Denied'}: the request is now ${done.value.status}${done.value.quorum_met ? '' : ' (more approvals needed)'}.`;
    } else {
      result.className = 'result no';
      result.textContent = `Refused: ${done.error.code} (${meaning(done.error.code)}). ${done.error.message}`;
    }
  };
  const passkeys = await usablePasskeys();
  const decideWithPasskey = async (decision: 'approve' | 'deny'): Promise<void> => {
    const statement = statementFor(r, current, decision, reason.value);
    preview.textContent = JSON.stringify(statement, null, 2);
    let signed;
    try {
      signed = await startAuthentication({
        optionsJSON: {
          challenge: await passkeyChallenge(statement as unknown as StatementFields),
          rpId: location.hostname,
          allowCredentials: passkeys.map((p) => ({ id: p.credential_id, type: 'public-key' as const })),
          userVerification: 'required',
          timeout: 120_000,
        },
      });
    } catch (err) {
      result.className = 'result no';
      result.textContent = `PASSKEY_CANCELLED (${meaning('PASSKEY_CANCELLED')}): ${err instanceof Error ? err.name : String(err)}`;
      return;
    }
    const path = `/v1/requests/${encodeURIComponent(r.id)}/${decision === 'approve' ? 'approvals' : 'denials'}`;
    const attestation = {
      kind: 'passkey',
      credential_id: signed.id,
      authenticator_data: signed.response.authenticatorData,
      client_data_json: signed.response.clientDataJSON,
      signature: signed.response.signature,
    };
    const done = await api<{ status: string; quorum_met: boolean }>('POST', path, { statement, attestation });
    if (done.ok) {
      result.className = 'result yes';
      result.textContent = `${decision === 'approve' ? 'Approved' : 'Denied'} with your passkey: the request is now ${done.value.status}${done.value.quorum_met ? '' : ' (more approvals needed)'}.`;
    } else {
      result.className = 'result no';
      result.textContent = `Refused: ${done.error.code} (${meaning(done.error.code)}). ${done.error.message}`;
    }
  };
  const approve = el('button', { type: 'button', class: 'approve', id: 'approve' }, 'Approve');
  const deny = el('button', { type: 'button', class: 'deny', id: 'deny' }, 'Deny');
  approve.addEventListener('click', () => void decide('approve'));
  deny.addEventListener('click', () => void decide('deny'));
  if (r.status !== 'open' || needsKey) {
    approve.setAttribute('disabled', '');
    deny.setAttribute('disabled', '');
  }
  const approveKey = el('button', { type: 'button', class: 'approve', id: 'approve-passkey' }, 'Approve with passkey');
  const denyKey = el('button', { type: 'button', class: 'deny', id: 'deny-passkey' }, 'Deny with passkey');
  approveKey.addEventListener('click', () => void decideWithPasskey('approve'));
  denyKey.addEventListener('click', () => void decideWithPasskey('deny'));
  if (r.status !== 'open') {
    approveKey.setAttribute('disabled', '');
    denyKey.setAttribute('disabled', '');
  }
  const keyNote =
    passkeys.length > 0
      ? el('p', { class: 'muted' }, needsKey ? 'This risk class needs a signature with your own key: sign with your passkey.' : 'You can also sign with your passkey.')
      : needsKey
        ? el('p', { class: 'muted' }, 'This risk class needs a signature with your own key: ', link('/console/passkeys', 'register a passkey'), ', or use `countersign approve` with your roster key.')
        : el('span');
  show(
    el('p', {}, link('/console', '← Inbox')),
    el('h1', {}, `${r.action} on ${r.target}`),
    details,
    verdictBox,
    keyNote,
    el('h2', {}, 'What you sign'),
    el('p', { class: 'muted' }, `The statement binds this exact step (digest ${r.digest}) under bundle ${r.bundle_id ?? '?'}; the gateway attests it for your session, or your passkey signs it.`),
    el('label', { for: 'reason' }, 'Reason', reason),
    preview,
    el('p', {}, approve, ' ', deny),
    passkeys.length > 0 ? el('p', {}, approveKey, ' ', denyKey) : el('span'),
    result,
  );
}

// ---- wiring ----------------------------------------------------------------

async function route(): Promise<void> {
  const match = /^\/console\/requests\/([^/]+)$/.exec(location.pathname);
  try {
    if (match !== null) await requestPage(decodeURIComponent(match[1]!));
    else if (location.pathname === '/console/passkeys') await passkeysPage();
    else await inbox();
  } catch (err) {
    show(el('h1', {}, 'Something went wrong'), el('p', { class: 'result no' }, String(err)));
  }
}

function follow(): void {
  live?.close();
  // every change the gateway commits: the inbox refreshes, a request page too
  live = new EventSource('/console/events');
  live.addEventListener('changed', () => {
    if (document.activeElement?.tagName === 'TEXTAREA') return;
    if (location.pathname === '/console') void inbox();
  });
}

async function start(): Promise<void> {
  const answer = await fetch('/console/session', { credentials: 'same-origin' });
  const body = (await answer.json()) as Session & { sign_in: SignInWays };
  if (!answer.ok) {
    session = null;
    live?.close();
    await signIn(body.sign_in);
    return;
  }
  session = body;
  signedInAs(body);
  follow();
  await route();
}

window.addEventListener('popstate', () => void route());
void start();
