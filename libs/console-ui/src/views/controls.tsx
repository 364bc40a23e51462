import { useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import { usePoll } from '../hooks.ts';
import type { ConsoleSession, ControlJson } from '../types.ts';
import { Failure, Section, When } from './shared.tsx';

type Control = 'kill-switch' | 'safe-mode';
type Subject = 'tenant' | 'tool' | 'agent';

const CONTROL_NAMES: Record<Control, string> = { 'kill-switch': 'kill switch', 'safe-mode': 'safe mode' };

function pathOf(control: Control, subject: Subject, name: string): string {
  if (subject === 'tenant') return `/v1/controls/${control}`;
  return `/v1/controls/${subject}s/${encodeURIComponent(name)}/${control}`;
}

function pathOfActive(control: ControlJson): string {
  const kind: Control = control.control === 'kill_switch' ? 'kill-switch' : 'safe-mode';
  if (control.subject === 'tool') return pathOf(kind, 'tool', control.tool ?? '');
  if (control.subject === 'agent') return pathOf(kind, 'agent', control.agent ?? '');
  return pathOf(kind, 'tenant', '');
}

export function ControlsView({ api, session }: { api: ConsoleApi; session: ConsoleSession }) {
  const controls = usePoll(() => api.get<{ controls: ControlJson[] }>('/v1/controls'), 3000, []);
  // A tenant's operators and admins switch its controls; a platform admin's switches are the CLI's (/v1/controls/platform).
  const operates = (session.roles.includes('operator') || session.roles.includes('admin')) && session.tenant !== '*';
  const [control, setControl] = useState<Control>('kill-switch');
  const [subject, setSubject] = useState<Subject>('tool');
  const [name, setName] = useState('');
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState<{ path: string; enabled: boolean; what: string } | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);

  const target = subject === 'tenant' ? `every tool of ${session.tenant}` : `${subject} ${name.trim() || '…'}`;
  const send = async (path: string, enabled: boolean, what: string): Promise<void> => {
    setError(undefined);
    try {
      await api.put(path, { enabled, reason: reason.trim() || (enabled ? 'switched on from the console' : 'released from the console') });
      setDone(`${what}: ${enabled ? 'on' : 'off'}`);
      setConfirming(undefined);
      controls.refresh();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };

  return (
    <>
      <Failure error={error ?? controls.error} />
      {done !== undefined && (
        <p role="status" class="ok">
          {done}
        </p>
      )}
      <Section title="Active controls">
        <table>
          <thead>
            <tr>
              <th scope="col">Control</th>
              <th scope="col">Applies to</th>
              <th scope="col">Scope</th>
              <th scope="col">Reason</th>
              <th scope="col">Set by</th>
              <th scope="col">When</th>
              {operates && <th scope="col">Release</th>}
            </tr>
          </thead>
          <tbody>
            {(controls.data?.controls ?? []).map((active) => (
              <tr key={active.control_key} data-control={active.control_key}>
                <td>{active.control.replace('_', ' ')}</td>
                <td>{active.subject === 'all' ? 'everything' : `${active.subject} ${active.tool ?? active.agent ?? ''}`}</td>
                <td>{active.scope === '*' ? 'platform' : active.scope}</td>
                <td>{active.reason}</td>
                <td>{active.set_by}</td>
                <td>
                  <When iso={active.set_at} />
                </td>
                {operates && (
                  <td>
                    {active.scope !== '*' && (
                      <button type="button" onClick={() => void send(pathOfActive(active), false, `${active.control.replace('_', ' ')} of ${active.target}`)}>
                        Release
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {controls.data !== undefined && controls.data.controls.length === 0 && <p class="empty">No kill switch or safe mode is on.</p>}
      </Section>
      {operates && (
        <Section title="Switch a control">
          <form
            class="switch"
            onSubmit={(event) => {
              event.preventDefault();
              setConfirming({ path: pathOf(control, subject, name.trim()), enabled: true, what: `${CONTROL_NAMES[control]} of ${target}` });
            }}
          >
            <label for="control">Control</label>
            <select id="control" value={control} onChange={(event) => setControl(event.currentTarget.value as Control)}>
              <option value="kill-switch">Kill switch (nothing runs)</option>
              <option value="safe-mode">Safe mode (only reads run)</option>
            </select>
            <label for="subject">Applies to</label>
            <select id="subject" value={subject} onChange={(event) => setSubject(event.currentTarget.value as Subject)}>
              <option value="tool">One tool</option>
              <option value="agent">One agent</option>
              <option value="tenant">The whole tenant</option>
            </select>
            {subject !== 'tenant' && (
              <>
                <label for="subject-name">{subject === 'tool' ? 'Tool' : 'Agent'}</label>
                <input id="subject-name" type="text" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
              </>
            )}
            <label for="control-reason">Reason</label>
            <input id="control-reason" type="text" maxLength={500} value={reason} onInput={(event) => setReason(event.currentTarget.value)} />
            <button type="submit" class="deny">
              Switch on…
            </button>
          </form>
          {confirming !== undefined && (
            <div role="alertdialog" aria-labelledby="confirm-title" class="confirm">
              <p id="confirm-title">Switch on the {confirming.what}? Calls it covers are refused until someone releases it.</p>
              <button type="button" class="deny" autofocus onClick={() => void send(confirming.path, true, confirming.what)}>
                Confirm
              </button>
              <button type="button" onClick={() => setConfirming(undefined)}>
                Cancel
              </button>
            </div>
          )}
        </Section>
      )}
    </>
  );
}
