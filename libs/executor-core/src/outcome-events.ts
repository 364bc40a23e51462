// What the executor publishes for an outcome. A tool's result is operational detail: its body goes
// to writ.results.v1 (ToolResultRecorded, kept for the detail tier's retention, not chained), and
// the audited ActionExecuted carries only the body's sha256 (result_ref), so the permanent record
// never holds a raw result (docs/retention.md).
import type { ActionExecuted, ActionFailed, ToolResultRecorded } from '@writ/contracts';
import { sha256Hex } from '@writ/crypto';
import type { ExecutionResult } from './store.ts';

export type OutcomeEvent =
  | { readonly type: 'ToolResultRecorded'; readonly payload: Omit<ToolResultRecorded, 'meta'> }
  | { readonly type: 'ActionExecuted'; readonly payload: Omit<ActionExecuted, 'meta'> }
  | { readonly type: 'ActionFailed'; readonly payload: Omit<ActionFailed, 'meta'> };

/**
 * The events of one outcome, in the order to publish them: the result's body before the success
 * that references it, so a reader of both topics rarely meets the reference first.
 */
export function outcomeEvents(result: ExecutionResult): readonly OutcomeEvent[] {
  if (result.type === 'ActionFailed') return [result];
  const { result_json: body, ...executed } = result.payload;
  const ref = sha256Hex(body);
  return [
    { type: 'ToolResultRecorded', payload: { tool: executed.tool, result_json: body, result_ref: ref } },
    { type: 'ActionExecuted', payload: { ...executed, result_json: null, result_ref: ref } },
  ];
}
