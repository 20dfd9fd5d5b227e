import t from 'tap';
import { ESLint } from 'eslint';
import { ROOT } from '../fixtures/cli.js';

/**
 * The layers of docs/architecture.md are lint rules (eslint.layers.js). These run the
 * project's own ESLint config, as `npm run lint` does, on probe code placed in each folder:
 * a wrong import fails, the same file without it passes.
 */
const eslint = new ESLint({ cwd: ROOT });

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: { file: string; bad: string; good: string }[] = [
  { file: 'drivers/modbus.ts', bad: "import type { Hub } from '../hub/hub.js';", good: "import type { Clock } from '../kernel/clock.js';" },
  { file: 'drivers/nut.ts', bad: "import { KIND_FACTORIES } from '../devices/registry.js';", good: "import { ok } from '../kernel/result.js';" },
  { file: 'simulators/gate.ts', bad: "import { CheckIn } from '../hub/checkin/checkin.js';", good: "import { parseVerify } from '../drivers/gate-verify.js';" },
  { file: 'devices/relay.ts', bad: "import type { CommandLedger } from '../hub/commands.js';", good: "import type { DeviceCommands } from './seam.js';" },
  { file: 'config/load.ts', bad: "import { systemClock } from '../kernel/clock.js';", good: "import { parse } from 'yaml';" },
  { file: 'kernel/bus.ts', bad: "export type { Facility } from '../config/schema.js';", good: "import type { Logger } from './log.js';" },
  { file: 'hub/power/feature.ts', bad: "import { startSimulators } from '../../simulators/run.js';", good: "import { ok } from '../../kernel/result.js';" },
];

for (const c of cases) {
  void t.test(`${c.file}: ${c.bad}`, async (t) => {
    const bad = await restricted(c.file, `${c.bad}\nexport const probe = 1;\n`);
    t.equal(bad.length, 1, 'the wrong import fails lint');
    t.match(bad[0], /docs\/architecture\.md/, 'and the message points to the layers');
    t.same(await restricted(c.file, `${c.good}\nexport const probe = 1;\n`), [], 'an allowed import passes');
  });
}

void t.test('the CLI and the demo may start simulators; nothing else in hub/ may', async (t) => {
  t.same(await restricted('hub/cli.ts', "import { startSimulators } from '../simulators/run.js';\nexport const probe = 1;\n"), []);
  t.same(await restricted('hub/demo/seed.ts', "import { demoPeople } from '../../simulators/demo-people.js';\nexport const probe = 1;\n"), []);
  t.equal((await restricted('hub/hub.ts', "import { startSimulators } from '../simulators/run.js';\nexport const probe = 1;\n")).length, 1);
});
