/** Temporary directories for tests, removed with everything in them when the test file ends. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export interface TempDir {
  path: string;
  /** writes `text` to `name` in the directory and returns its path */
  file: (name: string, text: string) => string;
  cleanup: () => void;
}

/**
 * A fresh directory under the system's temp dir, named permafrost-`prefix`-*. Called at a test
 * file's top level, it is removed after all of that file's tests (node:test `after`).
 */
export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `permafrost-${prefix}-`));
  const cleanup = () => rmSync(path, { recursive: true, force: true });
  after(cleanup);
  return {
    path,
    cleanup,
    file: (name, text) => {
      const p = join(path, name);
      writeFileSync(p, text);
      return p;
    },
  };
}
