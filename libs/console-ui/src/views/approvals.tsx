import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import { useLivePoll, useNow } from '../hooks.ts';
import { formatMicros, inboxCommand, moveSelection, quorum, sortInbox, timeLeft } from '../logic.ts';
import type { StreamEvent } from '../logic.ts';
import type { ActionJson } from '../types.ts';
import { Arguments, Failure, Section, Status, When } from './shared.tsx';

const isInboxNews = (event: StreamEvent): boolean => event.event === 'approvals';

/** How many requests the inbox shows at once: decide these, the next ones follow. */
const BATCH = 10;

export function ApprovalsView({ api }: { api: ConsoleApi }) {
  const pending = useLivePoll(() => api.get<{ approvals: ActionJson[] }>('/v1/approvals'), 2000, [], isInboxNews);
  const history = useLivePoll(() => api.get<{ approvals: ActionJson[] }>('/v1/console/approvals/history?limit=20'), 4000, [], isInboxNews);
  const [selected, setSelected] = useState(0);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [sent, setSent] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | undefined>(undefined);
  const now = useNow();
  const inbox = sortInbox(pending.data?.approvals ?? []).filter((action) => sent[action.action_id] === undefined);
  const shown = inbox.slice(0, BATCH);
  const reasonRefs = useRef<Record<string, HTMLInputElement | null>>({});

  const decide = async (action: ActionJson, verdict: 'approve' | 'deny'): Promise<void> => {
    setError(undefined);
    const reason = reasons[action.action_id]?.trim() ?? '';
    try {
      await api.post(`/v1/approvals/${encodeURIComponent(action.action_id)}`, { verdict, ...(reason === '' ? {} : { comment: reason }) });
      setSent((all) => ({ ...all, [action.action_id]: verdict }));
      pending.refresh();
      history.refresh();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };

  // The listener is added once and reads the latest render's state (an effect would re-register
  // only after the next frame, and a key pressed right after typing would see the old reason).
  const latest = useRef({ shown, selected, decide });
  latest.current = { shown, selected, decide };
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      const target = event.target as HTMLElement | null;
      const typing = target !== null && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT');
      if (typing && event.key === 'Escape') {
        target.blur();
        return;
      }
      const command = inboxCommand(event.key, { ctrl: event.ctrlKey, meta: event.metaKey, alt: event.altKey }, typing);
      if (command === undefined) return;
      const { shown: rows, selected: index, decide: send } = latest.current;
      const action = rows[Math.min(index, rows.length - 1)];
      event.preventDefault();
      if (command === 'next' || command === 'previous') setSelected((current) => moveSelection(current, command, rows.length));
      else if (action !== undefined && command === 'reason') reasonRefs.current[action.action_id]?.focus();
      else if (action !== undefined && (command === 'approve' || command === 'deny')) void send(action, command);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <>
      <p class="hint" id="inbox-keys">
        Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous, <kbd>a</kbd> approve, <kbd>d</kbd> deny, <kbd>r</kbd> write a reason, <kbd>Esc</kbd> leave the field.
      </p>
      <Failure error={error ?? pending.error} />
      <Section title={`Pending (${inbox.length})`}>
        {pending.data !== undefined && inbox.length === 0 && <p class="empty">Nothing awaits your approval.</p>}
        <ol class="inbox" aria-describedby="inbox-keys">
          {shown.map((action, index) => {
            const request = action.approval_request;
            const q = quorum(action);
            const isSelected = index === Math.min(selected, shown.length - 1);
            return (
              <li
                class={`card${isSelected ? ' selected' : ''}`}
                aria-current={isSelected ? 'true' : undefined}
                data-action={action.action_id}
                key={action.action_id}
              >
                <div class="card-head">
                  <strong class="tool">{action.tool ?? 'unknown tool'}</strong>
                  <span class={`risk risk-${request?.risk ?? 'unknown'}`}>risk {request?.risk ?? 'unknown'}</span>
                  <span>agent {action.agent_id ?? '–'}</span>
                  <a href={`#/runs/${encodeURIComponent(action.run_id)}`}>run {action.run_id.slice(0, 8)}</a>
                  <span class="left">Time left {timeLeft(request?.expires_at, now)}</span>
                </div>
                <p class="why">
                  <span class="label">Policy</span> {request?.policy ?? '–'}
                  {request?.reason !== null && request?.reason !== undefined && <> — {request.reason}</>}
                </p>
                {action.proposal_reason !== null && (
                  <p class="why">
                    <span class="label">Agent says</span> {action.proposal_reason}
                  </p>
                )}
                <Arguments args={action.arguments} label={`arguments of ${action.tool ?? 'the action'}`} />
                {request?.previous_similar !== null && request?.previous_similar !== undefined && (
                  <p class="hint">
                    Last similar ({request.previous_similar.status}):{' '}
                    {request.previous_similar.changes.length === 0
                      ? 'same arguments'
                      : request.previous_similar.changes
                          .map((change) => `${change.field}: ${JSON.stringify(change.before)} → ${JSON.stringify(change.after)}`)
                          .join('; ')}
                  </p>
                )}
                <div class="facts">
                  <span>
                    Run spend{' '}
                    {request?.run_spend === null || request?.run_spend === undefined ? '–' : formatMicros(request.run_spend.micros, request.run_spend.currency)}
                  </span>
                  <span>
                    <progress max={q.need} value={q.have} aria-label="quorum" /> {q.label}
                  </span>
                </div>
                <div class="decide">
                  <label for={`reason-${action.action_id}`}>Reason</label>
                  <input
                    id={`reason-${action.action_id}`}
                    type="text"
                    maxLength={500}
                    ref={(element) => {
                      reasonRefs.current[action.action_id] = element;
                    }}
                    value={reasons[action.action_id] ?? ''}
                    onInput={(event) => setReasons((all) => ({ ...all, [action.action_id]: event.currentTarget.value }))}
                    onFocus={() => setSelected(index)}
                  />
                  <button type="button" class="approve" aria-keyshortcuts="a" onClick={() => void decide(action, 'approve')}>
                    Approve
                  </button>
                  <button type="button" class="deny" aria-keyshortcuts="d" onClick={() => void decide(action, 'deny')}>
                    Deny
                  </button>
                </div>
              </li>
            );
          })}
        </ol>
        {inbox.length > BATCH && <p class="hint">{inbox.length - BATCH} more after these.</p>}
      </Section>
      <Section title="Decided and expired">
        <Failure error={history.error} />
        <table>
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Approvals</th>
              <th scope="col">Changed</th>
            </tr>
          </thead>
          <tbody>
            {(history.data?.approvals ?? []).map((action) => (
              <tr key={action.action_id} data-action={action.action_id}>
                <td>
                  <a href={`#/runs/${encodeURIComponent(action.run_id)}`}>{action.tool ?? '–'}</a>
                </td>
                <td>{action.agent_id ?? '–'}</td>
                <td>
                  <Status status={action.status} />
                </td>
                <td>
                  {action.approvals
                    .map((approval) => `${approval.approver_id}: ${approval.verdict}${approval.comment === null ? '' : ` (“${approval.comment}”)`}`)
                    .join(', ') || '–'}
                </td>
                <td>
                  <When iso={action.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
