/**
 * Span attribute names of Writ's own spans, in one place. Messaging attributes of Kafka hops are
 * set by @writ/bus. Values never include tool arguments or results: they may carry secrets.
 */
export const WRIT_ATTR = {
  tenantId: 'writ.tenant_id',
  runId: 'writ.run_id',
  actionId: 'writ.action_id',
  agentId: 'writ.agent_id',
  tool: 'writ.tool',
  decision: 'writ.policy.decision',
  determiningPolicies: 'writ.policy.determining_policies',
  budgetResult: 'writ.budget.result',
  budgetScope: 'writ.budget.scope',
  toolOutcome: 'writ.tool.outcome',
  terminalStatus: 'writ.action.status',
} as const;
