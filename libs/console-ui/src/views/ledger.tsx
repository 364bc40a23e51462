import { useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.ts';
import { usePoll } from '../hooks.ts';
import type { ConsoleSession, QueryAnswer } from '../types.ts';
import { Failure, Section } from './shared.tsx';

interface Chain {
  readonly chain_id: string;
  readonly entries: number;
  readonly head_seq: number;
}

const LATEST_CHECKPOINT =
  'SELECT seq, chain_hash, key_id, toString(signed_at) AS signed_at FROM checkpoints WHERE chain_id = {tenant:String} ORDER BY seq DESC LIMIT 1';

export function LedgerView({ api, session }: { api: ConsoleApi; session: ConsoleSession }) {
  const state = usePoll(
    async () => {
      const [{ chains }, checkpoint] = await Promise.all([
        api.get<{ chains: Chain[] }>('/v1/console/ledger'),
        api.post<QueryAnswer>('/v1/console/query', { sql: LATEST_CHECKPOINT, params: { tenant: session.tenant } }).then(
          (answer) => answer.rows[0],
          // The chains still show when the checkpoints cannot be read.
          () => undefined,
        ),
      ]);
      return { chains, checkpoint };
    },
    5000,
    [session.tenant],
  );
  const [runId, setRunId] = useState('');
  const [exported, setExported] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const exportRun = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(undefined);
    try {
      const lines = await api.text(`/v1/console/ledger/runs/${encodeURIComponent(runId.trim())}`);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([lines], { type: 'application/x-ndjson' }));
      link.download = `${session.tenant}-${runId.trim()}.jsonl`;
      link.click();
      URL.revokeObjectURL(link.href);
      setExported(`${lines.split('\n').filter((line) => line !== '').length} lines exported (entries, then checkpoints)`);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };
  const checkpoint = state.data?.checkpoint;
  return (
    <>
      <Failure error={state.error ?? error} />
      <Section title="Chains">
        <table>
          <thead>
            <tr>
              <th scope="col">Chain</th>
              <th scope="col">Entries</th>
              <th scope="col">Head seq</th>
              <th scope="col">Latest signed checkpoint</th>
              <th scope="col">Signed up to the head?</th>
            </tr>
          </thead>
          <tbody>
            {(state.data?.chains ?? []).map((chain) => {
              const signed = checkpoint === undefined ? undefined : Number(checkpoint['seq']);
              return (
                <tr key={chain.chain_id} data-chain={chain.chain_id}>
                  <td>{chain.chain_id}</td>
                  <td>{chain.entries}</td>
                  <td>{chain.head_seq}</td>
                  <td>
                    {checkpoint === undefined
                      ? 'none yet'
                      : `seq ${String(checkpoint['seq'])}, key ${String(checkpoint['key_id'])}, ${String(checkpoint['signed_at'])}`}
                  </td>
                  <td>{signed === undefined ? 'no' : signed >= chain.head_seq ? 'yes' : `${chain.head_seq - signed} entries after the checkpoint`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <p class="hint">
          Verify the signatures and hashes offline: <code>./dev writ verify --tenant {session.tenant} --url &lt;ledger&gt;</code> (docs: the README's audit
          line).
        </p>
      </Section>
      <Section title="Export a run with its proofs">
        <form onSubmit={(event) => void exportRun(event)}>
          <label for="export-run">Run id</label>
          <input id="export-run" type="text" required value={runId} onInput={(event) => setRunId(event.currentTarget.value)} />
          <button type="submit">Export</button>
        </form>
        {exported !== undefined && <p role="status">{exported}</p>}
      </Section>
    </>
  );
}
