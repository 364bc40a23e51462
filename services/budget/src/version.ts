import { packageVersion } from '@writ/runtime';

/** This service's version (its package.json), for `meta.producer`. */
export function packageVersionOf(): string {
  return packageVersion(import.meta.url);
}
