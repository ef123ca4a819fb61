import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadJob } from '@permafrost/job';
import { ROOT } from './support';

describe('examples/', () => {
  const dir = join(ROOT, 'examples');
  for (const f of readdirSync(dir).filter((x) => /\.(ya?ml|json)$/.test(x))) {
    it(`${f} is a valid job spec`, async () => {
      const job = await loadJob(join(dir, f), {});
      assert.equal(job.model.name, 'mobilenet_v2');
      assert.ok(job.checkpoint.dir);
    });
  }
});
