/**
 * The CLI as a new user meets it (issue 11, item 19): help on every command, an unknown
 * simulator id refused, JSON log lines when stdout is not a terminal, the generated admin
 * password shown apart from them, and a normal Ctrl-C that logs nothing at error.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers/hub.js';
import { startCli } from '../fixtures/cli.js';
import { main } from '../../hub/cli.js';
import { freePort } from '../helpers/ports.js';

/** The CLI in this process (what bin/facility-hub.js calls), its output captured. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { out: (s) => (stdout += `${s}\n`), err: (s) => (stderr += `${s}\n`) });
  return { code, stdout, stderr };
}


void t.test('--help on every command answers that command, exit 0', async (t) => {
  const cases: [string[], RegExp][] = [
    [['start', '--help'], /Usage: facility-hub start[\s\S]*--http-host ADDR[\s\S]*--mqtt-host ADDR[\s\S]*--simulators/],
    [['simulate', '-h'], /Usage: facility-hub simulate[\s\S]*--mqtt-url/],
    [['config', 'check', '--help'], /Usage: facility-hub config check FILE/],
    [['device', 'token', '--help'], /Usage: facility-hub device token DEVICE_ID/],
    [['audit', 'verify', '--help'], /Usage: facility-hub audit verify/],
    [['--help'], /facility-hub COMMAND --help/],
  ];
  for (const [args, expected] of cases) {
    const r = await runMain(args);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stdout, expected, args.join(' '));
  }
});

void t.test('an unknown id in --simulators is an error naming it', async (t) => {
  const tmp = tempDir('fh-cli-sim-');
  t.teardown(() => tmp.cleanup());
  const r = await runMain(['start', '--data-dir', tmp.dir, '--simulators', 'ups-1,nope', '--http-port', '0', '--mqtt-port', '0', '--http-host', '127.0.0.1', '--mqtt-host', '127.0.0.1']);
  t.not(r.code, 0);
  t.match(r.stderr, /--simulators: found "nope", expected all, none or ids of devices/);
  t.notMatch(r.stdout, /facility-hub ready/);
});

void t.test('JSON logs off a terminal, the admin password apart, a quiet Ctrl-C', async (t) => {
  const tmp = tempDir('fh-cli-logs-');
  t.teardown(() => tmp.cleanup());
  const port = await freePort();
  const config = join(tmp.dir, 'facility.yaml');
  writeFileSync(
    config,
    `
version: 1
site: { id: demo }
devices:
  - { id: ups-1, kind: ups, transport: { type: modbus-tcp, host: 127.0.0.1, port: ${port} }, options: { pollMs: 200 }, simulated: true }
`,
  );
  const cli = await startCli(['--config', config, '--data-dir', join(tmp.dir, 'data'), '--http-port', '0', '--mqtt-port', '0', '--http-host', '127.0.0.1', '--mqtt-host', '127.0.0.1'], { FH_LOG_LEVEL: 'info', FH_ADMIN_PASSWORD: '' });
  t.teardown(() => cli.kill());
  await waitFor(() => /"deviceId":"ups-1"[^\n]*"msg":"device available"/.test(cli.stdout()), 20_000, 'the UPS answers');
  const { code, signal } = await cli.stop('SIGINT');
  t.equal(code, 0, `exit 0 (signal ${signal})`);
  const lines = cli.stdout().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('facility-hub ready'));
  const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
  t.ok(records.length > 3, 'one JSON record per line');
  t.same(records.filter((r) => r.level >= 50).map((r) => r.msg), [], 'nothing at error or fatal on a normal Ctrl-C');
  t.ok(records.some((r) => r.msg === 'hub stopping'));
  const box = /\n={72}\n首次启动[^\n]*\nFirst start[^\n]*\n\n {4}(\S+)\n\n[^\n]*FH_ADMIN_PASSWORD[^\n]*\n={72}\n/.exec(cli.stderr());
  t.ok(box, `the generated password in its own box on stderr: ${cli.stderr()}`);
  t.notOk(box && cli.stdout().includes(box[1] ?? ''), 'and never in the log lines');
});
