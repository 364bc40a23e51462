import type { ComponentChildren } from 'preact';
import { argumentLines, formatMicros } from '../logic.ts';
import type { ActionJson } from '../types.ts';

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status.replace(/[^a-z_]/g, '')}`}>{status.replace(/_/g, ' ')}</span>;
}

export function Arguments({ args, label }: { args: unknown; label: string }) {
  const lines = argumentLines(args);
  if (lines.length === 0) return <p class="hint">No arguments shown.</p>;
  return (
    <dl class="args" aria-label={label}>
      {lines.map((line) => (
        <>
          <dt>{line.path}</dt>
          <dd class={line.masked ? 'masked' : ''} title={line.masked ? 'sensitive: masked by the tool registry' : undefined}>
            {line.value}
          </dd>
        </>
      ))}
    </dl>
  );
}

export function Cost({ action }: { action: ActionJson }) {
  return <>{action.cost_micros === null ? '–' : formatMicros(action.cost_micros, action.currency)}</>;
}

export function Failure({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

export function When({ iso }: { iso: string | null | undefined }) {
  if (iso === null || iso === undefined) return <>–</>;
  return <time dateTime={iso}>{new Date(iso).toLocaleString()}</time>;
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
