import type { QuarantineAction } from '../../schemas/types.generated.js';

/** The console's page addresses; ids go in as one encoded path segment whatever they contain. */

export function devicePath(clientId: string): string {
  return `/devices/${encodeURIComponent(clientId)}`;
}

export function heldPath(heldId: string): string {
  return `/quarantine/${encodeURIComponent(heldId)}`;
}

export function decisionPath(heldId: string, action: Exclude<QuarantineAction, 'expire'>): string {
  return `${heldPath(heldId)}/${action}`;
}

export const queuePath = '/quarantine';
export const bulkDecisionPath = '/quarantine/bulk';
export const verdictStreamPath = '/api/v1/verdicts/stream';
