export { hashApiKey, parseDirectory } from './directory.ts';
export { DIRECTORY_FILE_VARIABLE, loadDirectory } from './load.ts';
export type { Agent, Directory, Principal, User } from './directory.ts';
