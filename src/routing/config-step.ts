// The first step shared by the config-file backends (BIRD, FRR): render, or say why nothing is applied
// (a RenderError rejects the config; an unchanged render needs no reload).
import type { Logger } from '../log.ts';
import type { ApplyResult } from './advertiser.ts';
import { renderNodeConfig, RenderError, type NodeRoutingInput, type RenderedConfig } from './render.ts';

/** The result of a refused or failed apply: the previous config (hash `applied`) keeps running. */
export function keepPrevious(
  log: Logger,
  daemon: string,
  applied: string | undefined,
  result: 'Rejected' | 'Failed',
  error: string,
): ApplyResult {
  log.warn(`${daemon} config not applied; previous config keeps running`, { result, error });
  return { result, error, ...(applied ? { hash: applied } : {}) };
}

export function renderStep(
  input: NodeRoutingInput,
  applied: string | undefined,
  log: Logger,
  daemon: string,
): { rendered: RenderedConfig } | { done: ApplyResult } {
  let rendered: RenderedConfig;
  try {
    rendered = renderNodeConfig(input);
  } catch (err) {
    if (err instanceof RenderError) return { done: keepPrevious(log, daemon, applied, 'Rejected', err.message) };
    throw err;
  }
  return rendered.hash === applied ? { done: { result: 'Unchanged', hash: rendered.hash } } : { rendered };
}
