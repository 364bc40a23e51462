import { readFile } from 'node:fs/promises';
import { WritError } from '@writ/errors';
import { parseDirectory } from './directory.ts';
import type { Directory } from './directory.ts';

export const DIRECTORY_FILE_VARIABLE = 'WRIT_DIRECTORY_FILE';

/**
 * Reads and validates the directory file (default: the file named by WRIT_DIRECTORY_FILE).
 * Throws WritError DIRECTORY_INVALID naming the field and the rule, or DIRECTORY_UNREADABLE.
 */
export async function loadDirectory(path: string | undefined = process.env[DIRECTORY_FILE_VARIABLE]): Promise<Directory> {
  if (path === undefined || path.trim() === '') {
    throw new WritError('DIRECTORY_INVALID', `${DIRECTORY_FILE_VARIABLE} is not set: set it to the path of the directory JSON file`, {
      field: DIRECTORY_FILE_VARIABLE,
      rule: 'must be the path of the directory JSON file',
    });
  }
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (cause) {
    throw new WritError('DIRECTORY_UNREADABLE', `cannot read the directory file ${path}`, {
      field: DIRECTORY_FILE_VARIABLE,
      rule: 'must name a readable file',
      cause,
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(content);
  } catch (cause) {
    throw new WritError('DIRECTORY_INVALID', `directory ${path} is not valid JSON`, { field: '', rule: 'must be valid JSON', cause });
  }
  return parseDirectory(document, path);
}
