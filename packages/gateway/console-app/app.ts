/**
 * The approver console in the browser (issue 14). It holds no authority of
 * its own: every list, verdict and decision is the gateway's `/v1` API,
 * called with the session cookie and, for any change, the session's CSRF
 * token. Plain DOM, no framework: every control is a real button, link or
 * form field, so the console works from the keyboard alone.
 */

import { overrideBodyText, overrideSignatureText, statementText, type CanonicalValue, type OverrideSignerClaim, type SignerRole, type StatementFields } from '@countersign/core/browser';
// the contract's types (issue 14, part 7): type-only, erased from the bundle, so
// the page reads exactly the fields the gateway's schemas promise
import type {
  ArtifactList,
  HaltList,
  HoldList,
  ListedRequestView,
  OverrideView,
  PasskeyView,
  RequestView as ContractRequestView,
} from '@countersign/client/contract';
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









/** A request by id, or as the inbox lists it (with the caller's verdict). */
type RequestView = ContractRequestView & { readonly approvable?: ListedRequestView['approvable'] };
type HoldView = HoldList['holds'][number];
type HaltView = HaltList['halts'][number];
type ArtifactView = ArtifactList['artifacts'][number];
/** The documented error body; `details.codes` lists every code of a refusal with several (an override's gates). */
interface ApiFailure {
  readonly error: { readonly code: string; readonly message: string; readonly details?: { readonly codes?: readonly string[] } };
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
  VALIDATION_FAILED: 'a field is missing or not in the form the gateway takes',
  UNKNOWN_PRINCIPAL: 'you are not in the policy’s roster',
  // holds
  AGENT_CANNOT_HOLD: 'agents never open, extend or lift holds',
  UNKNOWN_TRIP_GATE: 'the policy declares no such trip gate',
  HOLD_SCOPE_INVALID: 'the scope would hold nothing: an environment or action the policy does not declare, a class other than read, write, destructive, or a wildcard',
  EVIDENCE_INVALID: 'evidence is a hash: sha256: and 64 hexadecimal digits',
  HOLD_UNKNOWN: 'no hold has this id',
  HOLD_NOT_OPEN: 'this hold is already lifted',
  // halts
  AGENT_CANNOT_HALT: 'agents never halt',
  HALT_UNKNOWN: 'no halt has this id',
  HALT_NOT_ACTIVE: 'this halt is already lifted',
  // rollbacks
  AGENT_CANNOT_ROLLBACK: 'agents never run a rollback',
  ARTIFACT_UNKNOWN: 'no rollback artifact has this id',
  ROLLBACK_NOT_READY: 'this rollback artifact already ran',
  ENVIRONMENT_NOT_ALLOWED: 'the policy’s rollback authority does not cover this environment',
  // overrides: every failing gate is listed
  AGENT_CANNOT_OVERRIDE: 'agents never request or sign overrides',
  OVERRIDE_UNKNOWN: 'no override has this id',
  OVERRIDE_CLOSED: 'this override was already granted or denied',
  OVERRIDE_INVALID: 'the override request is not well formed',
  O1_IDENTITY_COLLISION: 'a signer is the requester, a party to the step, reports to the requester, or signed twice',
  O2_SCOPE_CREEP: 'a signature covers another body, or the body reaches outside its explicit scope',
  O3_CLOCK_BREACH: 'the window is over, or a signature is dated outside it',
  O4_MISSING_ROLLBACK: 'the named rollback artifact is missing or not ready',
  O5_NOT_ELIGIBLE: 'a signer lacks the signer role, signed from a surface the policy does not allow or the override was requested from, or the step or reason is not eligible',
  O6_GATE_ACK_MISMATCH: 'the acknowledgement does not echo the active hold and its trip gate',
  O7_DURATION_EXCEEDED: 'the window is longer than the policy allows',
  O8_BUDGET_EXHAUSTED: 'the override budget is spent: an extra signer must sign too',
};

/** Where a code means something else than at an approval. */
const AUTHORITY_MEANINGS: Record<string, string> = {
  ROLE_NOT_ELIGIBLE: 'the policy does not give any of your roles this authority',
  BAD_SIGNATURE: 'a signature did not verify against a key or passkey registered to its signer',
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

function meaning(code: string, context: 'approval' | 'authority' = 'approval'): string {
  return (context === 'authority' ? AUTHORITY_MEANINGS[code] : undefined) ?? MEANINGS[code] ?? 'refused by the policy';
}

/** A refusal as a person reads it: every code (an override lists each failing gate) with what it means, then the gateway's message. */
function refusalText(error: ApiFailure['error'], context: 'approval' | 'authority' = 'authority'): string {
  const codes = error.details?.codes !== undefined && error.details.codes.length > 0 ? error.details.codes : [error.code];
  return `Refused: ${codes.map((c) => `${c} (${meaning(c, context)})`).join('; ')}. ${error.message}`;
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
  who.replaceChildren(`${current.principal} · ${current.surface} `, link('/console/authority', 'Holds, halts, rollbacks, overrides'), ' ', link('/console/passkeys', 'Passkeys'), ' ', out);
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

// ---- holds, halts, rollbacks (issue 14 part 6) -------------------------------

/** The comma-separated entries of a text field, trimmed; empty ones dropped. */
function list(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function field(id: string, label: string, attrs: Record<string, string> = {}): { input: HTMLInputElement; label: HTMLLabelElement } {
  const input = el('input', { id, name: id, type: 'text', autocomplete: 'off', ...attrs });
  return { input, label: el('label', { for: id }, label, input) };
}

/** Show an answer in `box`: what happened, or the refusal with its codes and meanings. */
function answer(box: HTMLElement, done: { ok: true; value: unknown } | { ok: false; error: ApiFailure['error'] }, success: string): void {
  box.className = done.ok ? 'result yes' : 'result no';
  box.textContent = done.ok ? success : refusalText(done.error);
}

function yesNo(may: boolean): string {
  return may ? 'yes' : 'no (you may try: the gateway will refuse and record it)';
}

async function authorityPage(): Promise<void> {
  const [holds, halts, rollbacks, overrides] = await Promise.all([
    api<{ holds: HoldView[]; trip_gates: { id: string; description: string }[]; you_may: { open: boolean; add_evidence: boolean; lift: boolean } }>('GET', '/v1/holds'),
    api<{ halts: HaltView[]; environments: string[]; you_may: { halt: boolean } }>('GET', '/v1/halts'),
    api<{ artifacts: ArtifactView[] }>('GET', '/v1/rollbacks'),
    api<{ overrides: OverrideView[] }>('GET', '/v1/overrides'),
  ]);
  for (const r of [holds, halts, rollbacks, overrides]) {
    if (!r.ok) {
      show(el('h1', {}, 'Holds, halts, rollbacks, overrides'), el('p', { class: 'result no' }, refusalText(r.error)));
      return;
    }
  }
  if (!holds.ok || !halts.ok || !rollbacks.ok || !overrides.ok) return;
  const again = (): void => void authorityPage();

  // holds
  const holdResult = el('div', { id: 'hold-result', role: 'alert' });
  const holdRows = holds.value.holds.map((h) => {
    const evidence = el('input', { type: 'text', id: `evidence-${h.id}`, 'aria-label': `New evidence hash for ${h.id}`, placeholder: 'sha256:…', autocomplete: 'off' });
    const add = el('button', { type: 'button', id: `add-evidence-${h.id}` }, 'Add evidence');
    add.addEventListener('click', () => {
      void api('POST', `/v1/holds/${encodeURIComponent(h.id)}/evidence`, { evidence_hash: evidence.value.trim() }).then(async (done) => {
        if (done.ok) await authorityPage();
        answer(document.getElementById('hold-result') ?? holdResult, done, `Evidence added to ${h.id}: every lease granted under it is revoked.`);
      });
    });
    const lift = el('button', { type: 'button', class: 'deny', id: `lift-${h.id}` }, 'Lift');
    lift.addEventListener('click', () => {
      void api('POST', `/v1/holds/${encodeURIComponent(h.id)}/lift`, { reason: 'lifted from the console' }).then(async (done) => {
        if (done.ok) await authorityPage();
        answer(document.getElementById('hold-result') ?? holdResult, done, `Hold ${h.id} lifted.`);
      });
    });
    const scope = [`env ${h.scope.environments.join(', ') || 'all'}`, `class ${h.scope.classes.join(', ') || 'all'}`, `action ${h.scope.actions.join(', ') || 'all'}`, `target ${h.scope.targets.join(', ') || 'all'}`].join('; ');
    return el(
      'tr',
      { 'data-hold': h.id },
      el('td', {}, el('code', {}, h.id)),
      el('td', {}, h.trip_gate),
      el('td', {}, scope),
      el('td', {}, ...h.evidence.flatMap((e) => [el('code', {}, e), el('br')])),
      el('td', {}, `${h.opened_by ?? '?'}, ${age(h.opened_at)}${h.reason === '' ? '' : `: ${h.reason}`}`),
      el('td', {}, evidence, add, ' ', lift),
    );
  });
  const gate = el('select', { id: 'hold-gate', name: 'hold-gate' }, ...holds.value.trip_gates.map((g) => el('option', { value: g.id }, `${g.id}: ${g.description}`)));
  const envs = field('hold-environments', 'Environments (comma-separated; empty: all)');
  const classes = field('hold-classes', 'Classes (read, write, destructive; empty: all)');
  const actions = field('hold-actions', 'Actions (empty: all)');
  const targets = field('hold-targets', 'Targets (empty: all)');
  const evidenceHash = field('hold-evidence', 'Evidence hash', { placeholder: 'sha256:…' });
  const incident = field('hold-incident', 'Incident (optional)');
  const reason = field('hold-reason', 'Reason');
  const openForm = el(
    'form',
    { id: 'open-hold' },
    el('label', { for: 'hold-gate' }, 'Trip gate', gate),
    envs.label,
    classes.label,
    actions.label,
    targets.label,
    evidenceHash.label,
    incident.label,
    reason.label,
    el('button', { type: 'submit' }, 'Open hold'),
  );
  openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const scope: Record<string, string[]> = {};
    for (const [name, f] of [['environments', envs], ['classes', classes], ['actions', actions], ['targets', targets]] as const) {
      const values = list(f.input.value);
      if (values.length > 0) scope[name] = values;
    }
    const body: Record<string, unknown> = { trip_gate: gate.value, scope, evidence_hash: evidenceHash.input.value.trim(), reason: reason.input.value };
    if (incident.input.value.trim() !== '') body['incident'] = incident.input.value.trim();
    void api<{ hold: string }>('POST', '/v1/holds', body).then(async (done) => {
      if (done.ok) await authorityPage();
      answer(document.getElementById('hold-result') ?? holdResult, done, done.ok ? `Hold ${done.value.hold} opened: matching mutations are held, read-only diagnosis continues.` : '');
    });
  });

  // halts
  const haltResult = el('div', { id: 'halt-result', role: 'alert' });
  const haltRows = halts.value.halts.map((h) => {
    const lift = el('button', { type: 'button', class: 'deny', id: `lift-${h.id}` }, 'Lift');
    lift.addEventListener('click', () => {
      void api('POST', `/v1/halts/${encodeURIComponent(h.id)}/lift`, { reason: 'lifted from the console' }).then(async (done) => {
        if (done.ok) await authorityPage();
        answer(document.getElementById('halt-result') ?? haltResult, done, `Halt ${h.id} lifted.`);
      });
    });
    const scope = h.scope.kind === 'all' ? 'everything' : h.scope.kind === 'environment' ? `environment ${h.scope.environment}` : `incident ${h.scope.incident}`;
    return el('tr', { 'data-halt': h.id }, el('td', {}, el('code', {}, h.id)), el('td', {}, scope), el('td', {}, `${h.issued_by ?? '?'}, ${age(h.issued_at)}${h.reason === '' ? '' : `: ${h.reason}`}`), el('td', {}, lift));
  });
  const haltScope = el(
    'select',
    { id: 'halt-scope', name: 'halt-scope' },
    el('option', { value: 'all' }, 'everything'),
    ...halts.value.environments.map((e) => el('option', { value: `environment:${e}` }, `environment ${e}`)),
    el('option', { value: 'incident' }, 'an incident (name it below)'),
  );
  const haltIncident = field('halt-incident', 'Incident (for an incident scope)');
  const haltReason = field('halt-reason', 'Reason');
  const haltForm = el('form', { id: 'issue-halt' }, el('label', { for: 'halt-scope' }, 'Scope', haltScope), haltIncident.label, haltReason.label, el('button', { type: 'submit', class: 'deny' }, 'Halt'));
  haltForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = haltScope.value;
    const scope = chosen === 'all' ? { kind: 'all' } : chosen === 'incident' ? { kind: 'incident', incident: haltIncident.input.value.trim() } : { kind: 'environment', environment: chosen.slice('environment:'.length) };
    void api<{ halt: string; revoked_grants: string[]; revoked_leases: string[] }>('POST', '/v1/halts', { scope, reason: haltReason.input.value }).then(async (done) => {
      if (done.ok) await authorityPage();
      answer(
        document.getElementById('halt-result') ?? haltResult,
        done,
        done.ok ? `Halt ${done.value.halt} issued: ${done.value.revoked_grants.length} grants and ${done.value.revoked_leases.length} leases suspended.` : '',
      );
    });
  });

  // rollbacks
  const rollbackResult = el('div', { id: 'rollback-result', role: 'alert' });
  const rollbackRows = rollbacks.value.artifacts.map((a) => {
    const run = el('button', { type: 'button', id: `run-${a.id}` }, 'Run rollback');
    if (a.status !== 'ready') run.setAttribute('disabled', '');
    run.addEventListener('click', () => {
      void api<{ execution: string; revoked_leases: string[] }>('POST', `/v1/rollbacks/${encodeURIComponent(a.id)}/run`, {}).then(async (done) => {
        if (done.ok) await authorityPage();
        answer(document.getElementById('rollback-result') ?? rollbackResult, done, done.ok ? `Rollback ${a.id} runs as execution ${done.value.execution}; ${done.value.revoked_leases.length} leases revoked.` : '');
      });
    });
    return el(
      'tr',
      { 'data-artifact': a.id },
      el('td', {}, el('code', {}, a.id)),
      el('td', {}, el('code', {}, a.action)),
      el('td', {}, a.environment),
      el('td', {}, el('code', {}, a.target)),
      el('td', {}, `reverses ${a.reverses_step}`),
      el('td', {}, a.status === 'ready' ? (a.you_may_run ? 'ready: you may run it' : 'ready') : `ran (${a.execution ?? '?'})`),
      el('td', {}, run),
    );
  });

  const tableOf = (id: string, head: string[], rows: HTMLTableRowElement[]): HTMLElement =>
    rows.length === 0 ? el('p', { class: 'muted', id }, 'None.') : el('table', { id }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows));
  const refresh = el('button', { type: 'button', id: 'refresh-authority' }, 'Refresh');
  refresh.addEventListener('click', again);
  show(
    el('p', {}, link('/console', '← Inbox'), ' ', refresh),
    el('h1', {}, 'Holds, halts, rollbacks, overrides'),
    el('p', { class: 'muted' }, 'Each action here is the gateway’s /v1 API with your session; the policy decides, and a refusal is recorded in the ledger with its code.'),
    el('h2', {}, 'Holds'),
    el('p', { id: 'hold-rights', class: 'muted' }, `The policy gives you: open and extend holds ${yesNo(holds.value.you_may.open)}; lift holds ${yesNo(holds.value.you_may.lift)}.`),
    tableOf('holds', ['Hold', 'Gate', 'Scope', 'Evidence', 'Opened', ''], holdRows),
    holdResult,
    el('h3', {}, 'Open a hold'),
    openForm,
    el('h2', {}, 'Halts'),
    el('p', { id: 'halt-rights', class: 'muted' }, `The policy gives you halt authority: ${yesNo(halts.value.you_may.halt)}. A halt suspends every grant and lease in its scope at once.`),
    tableOf('halts', ['Halt', 'Scope', 'Issued', ''], haltRows),
    haltResult,
    haltForm,
    el('h2', {}, 'Rollbacks'),
    tableOf('rollbacks', ['Artifact', 'Action', 'Env', 'Target', 'Step', 'Status', ''], rollbackRows),
    rollbackResult,
    el('h2', {}, 'Overrides waiting for signatures'),
    overrides.value.overrides.length === 0
      ? el('p', { class: 'muted', id: 'overrides' }, 'None.')
      : el('ul', { id: 'overrides' }, ...overrides.value.overrides.map((o) => el('li', {}, link(`/console/overrides/${encodeURIComponent(o.id)}`, o.id), ` requested by ${o.requester ?? '?'} from ${o.request_surface ?? '?'}, ${age(o.requested_at)}`))),
  );
}

// ---- override signing (issue 14 part 6) ----------------------------------------

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A signature pasted from another signer: one object or a list, as JSON. Checked by the gateway; here only parsed. */
function pastedSignatures(text: string): unknown[] {
  if (text.trim() === '') return [];
  const parsed = JSON.parse(text) as unknown;
  return Array.isArray(parsed) ? parsed : [parsed];
}

async function overridePage(id: string): Promise<void> {
  const got = await api<OverrideView>('GET', `/v1/overrides/${encodeURIComponent(id)}`);
  if (!got.ok) {
    show(el('h1', {}, 'Override'), el('p', { class: 'result no' }, refusalText(got.error)), el('p', {}, link('/console/authority', 'Back')));
    return;
  }
  const o = got.value;
  const current = session!;
  // the hash is computed here, from the body shown, not taken from the gateway
  const computed = `sha256:${hex(await sha256(overrideBodyText(o.body as { readonly [key: string]: CanonicalValue })))}`;
  const hashMatches = computed === o.body_hash;
  const passkeys = await usablePasskeys();
  const seat = el('select', { id: 'seat', name: 'seat' }, ...(['a', 'b', 'extra'] as const).map((r) => el('option', { value: r }, r === 'extra' ? 'extra signer' : `signer ${r.toUpperCase()}`)));
  seat.value = o.you_may_sign[0] ?? 'a';
  const mine = el('textarea', { id: 'my-signature', rows: '6', readonly: '', 'aria-label': 'Your signature, to give the other signer' });
  const others = el('textarea', { id: 'other-signatures', rows: '6', 'aria-label': 'The other signers’ signatures (JSON)' });
  const result = el('div', { id: 'override-result', role: 'alert' });
  const sign = el('button', { type: 'button', class: 'approve', id: 'sign-passkey' }, 'Sign with passkey');
  const submit = el('button', { type: 'button', id: 'submit-override' }, 'Submit signatures');
  let signature: Record<string, string> | null = null;
  sign.addEventListener('click', () => {
    void (async () => {
      const claim: OverrideSignerClaim = { role: seat.value as SignerRole, signer: current.principal, key_id: '', surface: current.surface, signed_at: new Date().toISOString() };
      let signed;
      try {
        // the credential id is part of what is signed: the authenticator picks one of ours, so ask with one at a time
        const chosen = passkeys[0];
        if (chosen === undefined) throw new Error('no passkey');
        const bound = { ...claim, key_id: chosen.credential_id };
        const challenge = base64url(await sha256(overrideSignatureText(o.id, computed, bound, 'passkey')));
        signed = await startAuthentication({
          optionsJSON: { challenge, rpId: location.hostname, allowCredentials: [{ id: chosen.credential_id, type: 'public-key' as const }], userVerification: 'required', timeout: 120_000 },
        });
        signature = {
          kind: 'passkey',
          role: bound.role,
          signer: bound.signer,
          key_id: bound.key_id,
          surface: bound.surface,
          signed_at: bound.signed_at,
          body_hash: computed,
          signature: signed.response.signature,
          authenticator_data: signed.response.authenticatorData,
          client_data_json: signed.response.clientDataJSON,
        };
      } catch (err) {
        result.className = 'result no';
        result.textContent = `PASSKEY_CANCELLED (${meaning('PASSKEY_CANCELLED')}): ${err instanceof Error ? err.name : String(err)}`;
        return;
      }
      mine.value = JSON.stringify(signature);
      result.className = 'result yes';
      result.textContent = `Signed as ${seat.value === 'extra' ? 'the extra signer' : `signer ${seat.value.toUpperCase()}`} with your passkey. Give the text above to the other signer, or paste theirs below and submit.`;
    })();
  });
  submit.addEventListener('click', () => {
    void (async () => {
      let signatures: unknown[];
      try {
        signatures = [...(signature === null ? [] : [signature]), ...pastedSignatures(others.value)];
      } catch {
        result.className = 'result no';
        result.textContent = 'The other signatures are not JSON: paste the text the other signer’s console shows.';
        return;
      }
      const done = await api<{ lease: string; valid_from: string; valid_to: string; evidence_hash: string }>('POST', `/v1/overrides/${encodeURIComponent(o.id)}/submit`, { signatures });
      answer(result, done, done.ok ? `Granted: lease ${done.value.lease}, valid ${done.value.valid_from} to ${done.value.valid_to}, evidence ${done.value.evidence_hash}. It never lifts the hold.` : '');
    })();
  });
  if (o.status !== 'requested' || passkeys.length === 0 || !hashMatches) sign.setAttribute('disabled', '');
  if (o.status !== 'requested') submit.setAttribute('disabled', '');
  show(
    el('p', {}, link('/console/authority', '← Holds, halts, rollbacks, overrides')),
    el('h1', {}, `Override ${o.id}`),
    el(
      'dl',
      { id: 'override-details' },
      ...(
        [
          ['Status', o.status === 'granted' ? `granted: lease ${o.lease ?? '?'}` : o.status === 'denied' ? `denied: ${o.codes.join(', ')}` : 'waiting for signatures'],
          ['Requested by', `${o.requester ?? '?'} from ${o.request_surface ?? '?'}, ${o.requested_at}`],
          ['Hold', o.hold ?? 'none'],
          ['Your seats', o.you_may_sign.length === 0 ? 'none of your roles is a signer role' : o.you_may_sign.map((r) => (r === 'extra' ? 'extra signer' : `signer ${r.toUpperCase()}`)).join(', ')],
        ] as const
      ).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    ),
    el('h2', {}, 'The exact body you sign'),
    el('pre', { id: 'override-body' }, JSON.stringify(o.body, null, 2)),
    el('p', {}, 'Body hash ', el('code', { id: 'body-hash' }, o.body_hash), ' ', el('span', { id: 'hash-check', class: `badge ${hashMatches ? 'yes' : 'no'}` }, hashMatches ? 'computed in this page from the body above: it matches' : `computed in this page: ${computed}, which does not match: do not sign`)),
    el('p', { class: 'muted' }, 'Your passkey signs this override’s id, the body hash, your seat, you, this surface and the time. Signer A and signer B each sign in their own session; one of you then submits both.'),
    passkeys.length === 0 ? el('p', { class: 'muted' }, 'Override signatures here need a passkey: ', link('/console/passkeys', 'register one'), ', or use `countersign override sign` with your roster key.') : el('span'),
    el('p', {}, el('label', { for: 'seat' }, 'Sign as ', seat), ' ', sign),
    el('label', { for: 'my-signature' }, 'Your signature', mine),
    el('label', { for: 'other-signatures' }, 'The other signers’ signatures (their console’s text, or `countersign override sign` output)', others),
    el('p', {}, submit),
    result,
  );
}

// ---- wiring ----------------------------------------------------------------

async function route(): Promise<void> {
  const match = /^\/console\/requests\/([^/]+)$/.exec(location.pathname);
  try {
    const override = /^\/console\/overrides\/([^/]+)$/.exec(location.pathname);
    if (match !== null) await requestPage(decodeURIComponent(match[1]!));
    else if (override !== null) await overridePage(decodeURIComponent(override[1]!));
    else if (location.pathname === '/console/authority') await authorityPage();
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
