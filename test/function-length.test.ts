/**
 * The style rule "functions under 60 lines", held for the projects that run a job: the worker, the
 * coordinator, the trainer and the CLI (their tests aside). Fails naming each longer function.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runProcess } from './support';

const MAX_LINES = 60;
const PROJECTS = ['libs/worker', 'libs/coordinator', 'libs/trainer', 'apps/cli'];

describe('function length', () => {
  it(`no function in ${PROJECTS.join(', ')} is longer than ${MAX_LINES} lines`, async () => {
    const r = await runProcess(process.execPath, [join(ROOT, 'tools', 'long-functions.mjs'), String(MAX_LINES), ...PROJECTS]);
    assert.match(r.stdout, /measured in [1-9]\d* files/, `the checker read the projects' sources: ${r.stdout}${r.stderr}`);
    assert.equal(r.code, 0, `functions over ${MAX_LINES} lines; split them:\n${r.stdout}${r.stderr}`);
  });
});
