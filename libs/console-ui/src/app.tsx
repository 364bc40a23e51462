import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';
import type { ConsoleApi } from './api.ts';
import { LiveContext, LiveFeed, useLiveState } from './hooks.ts';
import type { ConsoleSession, ConsoleView } from './types.ts';
import { ApprovalsView } from './views/approvals.tsx';
import { ControlsView } from './views/controls.tsx';
import { LedgerView } from './views/ledger.tsx';
import { RunsView } from './views/runs.tsx';
import { SpendView } from './views/spend.tsx';

const TITLES: Record<ConsoleView, string> = { approvals: 'Approvals', runs: 'Runs', controls: 'Controls', spend: 'Spend & decisions', ledger: 'Ledger' };

/** The view and its argument from the location's hash: #/runs/<run id>. Keys never go in it. */
function route(): { view: string; arg: string | undefined } {
  const [view = '', arg] = window.location.hash.replace(/^#\/?/, '').split('/');
  return { view, arg: arg === undefined || arg === '' ? undefined : decodeURIComponent(arg) };
}

function useRoute(): { view: string; arg: string | undefined } {
  const [current, setCurrent] = useState(route);
  useEffect(() => {
    const onChange = (): void => setCurrent(route());
    window.addEventListener('hashchange', onChange);
    // The effect runs after the first paint: a hash changed before the listener was there is read now.
    onChange();
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return current;
}

export function App({ api }: { api: ConsoleApi }) {
  const [session, setSession] = useState<ConsoleSession | undefined>(undefined);
  const [checking, setChecking] = useState(api.signedIn);
  useEffect(() => {
    if (!api.signedIn) return;
    api
      .get<ConsoleSession>('/v1/console/session')
      .then(setSession)
      .catch(() => api.signOut())
      .finally(() => setChecking(false));
  }, [api]);
  if (checking) return <p class="boot">Checking your session…</p>;
  if (session === undefined) return <Login api={api} onSession={setSession} />;
  return (
    <Shell
      api={api}
      session={session}
      onSignOut={() => {
        api.signOut();
        setSession(undefined);
        window.location.hash = '';
      }}
    />
  );
}

function Login({ api, onSession }: { api: ConsoleApi; onSession: (session: ConsoleSession) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    api.signIn(key.trim());
    try {
      onSession(await api.get<ConsoleSession>('/v1/console/session'));
    } catch (failure) {
      api.signOut();
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'That key is not known (or was revoked).'
          : failure instanceof Error
            ? failure.message
            : String(failure),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Writ console</h1>
      <form onSubmit={(event) => void submit(event)} aria-describedby="login-help">
        <label for="api-key">Your API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" required value={key} onInput={(event) => setKey(event.currentTarget.value)} />
        <p id="login-help" class="hint">
          The key stays in this tab only (sessionStorage) and is sent as a header, never in an address. Approvers, operators, analysts and auditors may sign in;
          agents may not.
        </p>
        <button type="submit" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
        {error !== undefined && (
          <p role="alert" class="error" id="login-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Shell({ api, session, onSignOut }: { api: ConsoleApi; session: ConsoleSession; onSignOut: () => void }) {
  const { view, arg } = useRoute();
  const [feed] = useState(() => new LiveFeed());
  // The live stream serves the inbox and the timelines; the other views poll.
  const streams = session.views.includes('approvals') || session.views.includes('runs');
  useEffect(() => (streams ? feed.start(api) : undefined), [feed, api, streams]);
  const current: ConsoleView = (session.views as readonly string[]).includes(view) ? (view as ConsoleView) : (session.views[0] ?? 'runs');
  useEffect(() => {
    document.title = `${TITLES[current]} · Writ console`;
  }, [current]);
  return (
    <LiveContext.Provider value={feed}>
      <div class="shell">
        <header>
          <span class="brand">Writ console</span>
          <nav aria-label="Views">
            {session.views.map((name) => (
              <a href={`#/${name}`} aria-current={name === current ? 'page' : undefined} class={name === current ? 'current' : ''}>
                {TITLES[name]}
              </a>
            ))}
          </nav>
          <span class="who" data-testid="who">
            {session.name ?? session.user_id} · {session.roles.join(', ')} · {session.tenant}
          </span>
          {streams && <LiveIndicator />}
          <button type="button" class="quiet" onClick={onSignOut}>
            Sign out
          </button>
        </header>
        <main id="view">
          <h1>{TITLES[current]}</h1>
          {current === 'approvals' && <ApprovalsView api={api} />}
          {current === 'runs' && <RunsView api={api} runId={arg} />}
          {current === 'controls' && <ControlsView api={api} session={session} />}
          {current === 'spend' && <SpendView api={api} />}
          {current === 'ledger' && <LedgerView api={api} session={session} />}
        </main>
      </div>
    </LiveContext.Provider>
  );
}

/** Whether updates arrive live (the stream) or by polling; the count of stream events is for tests. */
function LiveIndicator() {
  const { state, events } = useLiveState();
  return (
    <span class="live-indicator" data-testid="live" data-live={state} data-events={String(events)} aria-live="polite">
      {state === 'live' ? '● live' : state === 'connecting' ? '○ connecting' : '○ polling'}
    </span>
  );
}
