import t from 'tap';
import { filterCovered, filterProblem, filtersIntersect, patternProblems, readsVerify, reservedTopic, topicMatches } from '../../../hub/integrations/patterns.js';
import { mosquittoHash, isMosquittoHash } from '../../../hub/broker/mosquitto-hash.js';

void t.test('MQTT filters are validated as MQTT 3.1.1 defines them', async (t) => {
  for (const ok of ['fh/demo/+/status', 'fh/demo/hub/#', '#', '+', 'fh/+/+/event', 'a//b']) t.equal(filterProblem(ok), null, ok);
  for (const bad of ['', 'fh/demo/#/status', 'fh/demo/a#', 'fh/de+mo/x', '$SYS/#', 'a\u0000b', 'a/b/c/d/e/f/g/h/i', 'x'.repeat(257)]) t.not(filterProblem(bad), null, JSON.stringify(bad.slice(0, 20)));
});

void t.test('matching, coverage and intersection of filters', async (t) => {
  t.ok(topicMatches('fh/demo/+/status', 'fh/demo/gate-1/status'));
  t.notOk(topicMatches('fh/demo/+/status', 'fh/demo/gate-1/state'));
  t.notOk(topicMatches('fh/demo/+/status', 'fh/demo/gate-1/status/x'));
  t.ok(topicMatches('fh/demo/hub/#', 'fh/demo/hub'), '# matches its parent level');
  t.notOk(topicMatches('#', '$SYS/broker/load'), 'wildcards never match $ topics at the first level');

  t.ok(filterCovered('fh/demo/+/status', 'fh/demo/gate-1/status'));
  t.ok(filterCovered('fh/demo/+/status', 'fh/demo/+/status'));
  t.notOk(filterCovered('fh/demo/+/status', 'fh/demo/#'), 'a wider filter is not covered');
  t.notOk(filterCovered('fh/demo/+/status', 'fh/demo/+/+'));
  t.ok(filterCovered('fh/demo/hub/#', 'fh/demo/hub/power'));
  t.ok(filterCovered('fh/demo/hub/#', 'fh/demo/hub/#'));
  t.notOk(filterCovered('fh/demo/gate-1/status', 'fh/demo/gate-1/status/#'));

  t.ok(filtersIntersect('fh/demo/+/x', 'fh/demo/gate-1/#'));
  t.ok(filtersIntersect('fh/#', 'fh/demo/hub/#'));
  t.ok(filtersIntersect('fh/demo/gate-1', 'fh/demo/gate-1/#'), '# includes the parent level');
  t.notOk(filtersIntersect('fh/demo/ext/x', 'fh/demo/gate-1/#'));
  t.notOk(filtersIntersect('a/b', 'a/b/c'));
  t.notOk(filtersIntersect('a', 'a/+'));
});

void t.test('an account may not publish as a device or the hub, nor read the gates\' verify messages', async (t) => {
  const devices = ['gate-1', 'door-1'];
  t.ok(readsVerify('demo', devices, 'fh/+/gate-1/#'));
  t.notOk(readsVerify('demo', devices, 'fh/demo/gate-1/verify/result'));
  t.same(patternProblems('demo', devices, ['fh/demo/+/status', 'fh/demo/hub/#'], ['fh/demo/ext/bms/#', 'bms/out']), []);
  const fields = (sub: string[], pub: string[]): string[] => patternProblems('demo', devices, sub, pub).map((p) => p.field);
  t.same(fields([], ['fh/demo/gate-1/status']), ['publish[0]']);
  t.same(fields([], ['fh/demo/+/event']), ['publish[0]'], 'a wildcard over the device level reaches the devices');
  t.same(fields([], ['fh/demo/hub/power']), ['publish[0]']);
  t.same(fields([], ['#']), ['publish[0]']);
  t.same(fields([], ['fh/+/hub/x']), ['publish[0]'], 'another site wildcard still reaches this hub');
  t.same(fields(['fh/demo/#'], []), ['subscribe[0]'], 'would read clear ID numbers');
  t.same(fields(['fh/demo/+/+'], []), ['subscribe[0]']);
  t.same(fields(['fh/demo/ext/#', 'fh/demo/hub/#'], []), [], 'trees that are no gate\'s are readable');
  t.same(fields(['fh/demo/+/status', 'a/#/b'], ['ok/x', 'fh/demo/door-1/#']), ['subscribe[1]', 'publish[1]'], 'every problem, each by its field');
  t.match(patternProblems('demo', devices, [], ['fh/demo/door-1/#'])[0]?.message, /door-1/);

  t.ok(reservedTopic('demo', (id) => devices.includes(id), 'fh/demo/gate-1/status'));
  t.ok(reservedTopic('demo', () => false, 'fh/demo/hub/power'));
  t.notOk(reservedTopic('demo', (id) => devices.includes(id), 'fh/demo/ext/bms'));
});

void t.test('mosquittoHash gives what mosquitto_passwd 2.0.11 wrote for the same password and salt', async (t) => {
  // `mosquitto_passwd -c -b pw alice secret` on Debian's mosquitto 2.0.11:
  const written = '$7$101$m/lHg+eOI3cnaJa1$O2G692+OKcQObxQ7RwaXsWSuKbEZiT4LTa/b1znLNJwiCRc7g409ZFSeTgrb/p1ey34mPd785NwzklkDUotbTA==';
  t.equal(mosquittoHash('secret', Buffer.from('m/lHg+eOI3cnaJa1', 'base64')), written);
  t.ok(isMosquittoHash(written));
  const fresh = mosquittoHash('secret');
  t.ok(isMosquittoHash(fresh), 'a fresh hash has the $7$ shape');
  t.not(fresh, mosquittoHash('secret'), 'a random salt each time');
  t.equal(fresh.split('$')[3]?.length, 16, '12-byte salt');
  t.notOk(isMosquittoHash('sha256$abc'));
  t.throws(() => mosquittoHash('x', Buffer.alloc(0)), /salt/);
});
