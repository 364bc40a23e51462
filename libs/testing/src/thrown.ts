import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';

/** The WritError `run` throws; fails if it throws nothing or something else. */
export function thrown(run: () => unknown): WritError {
  try {
    run();
  } catch (error) {
    if (isWritError(error)) return error;
    throw error;
  }
  throw new Error('expected a WritError');
}
