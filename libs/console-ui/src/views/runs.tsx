import { useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import { useLivePoll } from '../hooks.ts';
import { runOfStreamEvent, shadowOutcome, traceDisplay } from '../logic.ts';
import type { RunJson, TimelineActionJson } from '../types.ts';
import { Arguments, Cost, Failure, Section, Status, When } from './shared.tsx';

export function RunsView({ api, runId }: { api: ConsoleApi; runId: string | undefined }) {
  return runId === undefined ? <RunList api={api} /> : <Timeline api={api} runId={runId} />;
}

function RunList({ api }: { api: ConsoleApi }) {
  const [search, setSearch] = useState('');
  const runs = useLivePoll(
    () => api.get<{ runs: RunJson[] }>(`/v1/console/runs?limit=100${search === '' ? '' : `&q=${encodeURIComponent(search)}`}`),
    3000,
    [search],
    (event) => event.event === 'run',
  );
  return (
    <>
      <form role="search" onSubmit={(event) => event.preventDefault()}>
        <label for="run-search">Search runs (id, agent or goal)</label>
        <input id="run-search" type="search" value={search} onInput={(event) => setSearch(event.currentTarget.value)} />
      </form>
      <Failure error={runs.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Agent</th>
            <th scope="col">Goal</th>
            <th scope="col">Mode</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {(runs.data?.runs ?? []).map((run) => (
            <tr key={run.run_id} data-run={run.run_id}>
              <td>
                <a href={`#/runs/${encodeURIComponent(run.run_id)}`} class="mono">
                  {run.run_id}
                </a>
              </td>
              <td>{run.agent_id}</td>
              <td>{run.goal}</td>
              <td>{run.mode}</td>
              <td>
                <Status status={run.status} />
              </td>
              <td>
                <When iso={run.started_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.data !== undefined && runs.data.runs.length === 0 && <p class="empty">No runs{search === '' ? '' : ` match “${search}”`}.</p>}
    </>
  );
}

function Timeline({ api, runId }: { api: ConsoleApi; runId: string }) {
  const timeline = useLivePoll(
    () => api.get<{ run: RunJson; actions: TimelineActionJson[] }>(`/v1/console/runs/${encodeURIComponent(runId)}/timeline`),
    2000,
    [runId],
    (event) => runOfStreamEvent(event) === runId,
  );
  const run = timeline.data?.run;
  return (
    <>
      <p>
        <a href="#/runs">← All runs</a>
      </p>
      <Failure error={timeline.error} />
      {run !== undefined && (
        <Section title={`Run ${run.run_id}`}>
          <p>
            {run.agent_id} · {run.goal} · {run.mode} · <Status status={run.status} />
            {run.reason !== null && <> · {run.reason}</>}
          </p>
        </Section>
      )}
      <ol class="timeline" aria-label="actions of the run">
        {(timeline.data?.actions ?? []).map((action) => (
          <li key={action.action_id} data-action={action.action_id} data-status={action.status}>
            <div class="card-head">
              <When iso={action.proposed_at} />
              <strong class="tool">{action.tool ?? '–'}</strong>
              <Status status={action.status} />
              {action.shadow && <span class="badge">shadow</span>}
            </div>
            <dl class="facts-list">
              <dt>Decision</dt>
              <dd>{action.decision ?? 'pending'}</dd>
              <dt>Determining policies</dt>
              <dd>{action.determining_policies.join(', ') || '–'}</dd>
              <dt>Approvals</dt>
              <dd>
                {action.approvals.length === 0
                  ? '–'
                  : action.approvals
                      .map(
                        (approval) => `${approval.approver_id} ${approval.verdict}${approval.accepted === false ? ` (refused: ${approval.reason ?? ''})` : ''}`,
                      )
                      .join(', ')}
              </dd>
              <dt>Budget, cost</dt>
              <dd>
                {action.reason_code === 'BUDGET_REFUSED' ? 'refused by the budget' : 'within budget'} · <Cost action={action} />
              </dd>
              <dt>Outcome</dt>
              <dd>
                {action.reason_code ?? '–'}
                {action.reason !== null && <> — {action.reason}</>}
              </dd>
              <dt>Trace</dt>
              <dd>
                <Trace action={action} />
              </dd>
            </dl>
            <ShadowResults action={action} />
            <details>
              <summary>Arguments</summary>
              <Arguments args={action.arguments} label={`arguments of ${action.tool ?? 'the action'}`} />
            </details>
          </li>
        ))}
      </ol>
      {timeline.data !== undefined && timeline.data.actions.length === 0 && <p class="empty">No actions in this run yet.</p>}
    </>
  );
}

/** The action's trace: a link when the gateway has WRIT_CONSOLE_TRACE_URL, else the id to copy. */
function Trace({ action }: { action: TimelineActionJson }) {
  const trace = traceDisplay(action.trace_id, action.trace_url);
  if (trace.kind === 'none') return <>–</>;
  if (trace.kind === 'link')
    return (
      <a href={trace.href} target="_blank" rel="noopener noreferrer" class="trace" data-testid="trace" data-trace={trace.id}>
        {trace.id}
      </a>
    );
  return (
    <code class="trace" data-testid="trace" data-trace={trace.id} title="trace id (select to copy)">
      {trace.id}
    </code>
  );
}

/**
 * What did not happen, apart from what did: the shadow-mode policies' decisions beside the enforced
 * one, and for an action of a shadow run, that its outcome is what would have happened.
 */
function ShadowResults({ action }: { action: TimelineActionJson }) {
  const lines = shadowOutcome(action);
  if (lines.length === 0) return null;
  return (
    <section class="shadow-results" aria-label={`shadow results of ${action.tool ?? 'the action'}`} data-testid="shadow-results">
      <h4>Shadow (not enforced)</h4>
      <ul>
        {lines.map((line) => (
          <li key={line.key} data-disagrees={line.disagrees ? 'true' : 'false'}>
            {line.text}
          </li>
        ))}
      </ul>
    </section>
  );
}
