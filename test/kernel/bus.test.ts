import t from 'tap';
import { Bus } from '../../kernel/bus.js';
import { captureLogs } from '../fixtures/logs.js';

interface Events {
  [name: string]: unknown;
  ping: { n: number };
  pong: { s: string };
}

void t.test('a throwing and a rejecting listener are logged as owner/event and do not stop the others', async (t) => {
  const logs = captureLogs();
  const bus = new Bus<Events>(logs.log);
  const heard: string[] = [];
  bus.on('first', 'ping', (p) => {
    heard.push(`first:${p.n}`);
  });
  bus.on('thrower', 'ping', () => {
    throw new Error('sync failure');
  });
  bus.on('rejecter', 'ping', async () => {
    await Promise.resolve();
    throw new Error('async failure');
  });
  bus.on('last', 'ping', (p) => {
    heard.push(`last:${p.n}`);
  });
  t.doesNotThrow(() => bus.emit('ping', { n: 1 }), 'emit never throws');
  t.same(heard, ['first:1', 'last:1'], 'listeners after the thrower still ran, in order');
  await new Promise((r) => setImmediate(r));
  const failures = logs.records().filter((r) => r.msg === 'bus listener failed');
  t.same(failures.map((r) => r.listener).sort(), ['rejecter/ping', 'thrower/ping']);
  const byListener = new Map(failures.map((r) => [r.listener, r]));
  t.match(byListener.get('thrower/ping'), { err: { message: 'sync failure' } });
  t.match(byListener.get('rejecter/ping'), { err: { message: 'async failure' } });
  t.equal(bus.listenerFailures(), 2);
  // Still working on the next emit.
  bus.emit('ping', { n: 2 });
  t.same(heard, ['first:1', 'last:1', 'first:2', 'last:2']);
});

void t.test('removeOwner removes all of an owner\'s listeners, on every event; off() removes one', async (t) => {
  const bus = new Bus<Events>(captureLogs().log);
  const heard: string[] = [];
  bus.on('feature-a', 'ping', () => void heard.push('a:ping'));
  bus.on('feature-a', 'pong', () => void heard.push('a:pong'));
  const offB = bus.on('feature-b', 'ping', () => void heard.push('b:ping'));
  bus.on('feature-b', 'pong', () => void heard.push('b:pong'));
  t.equal(bus.listenerCount('ping'), 2);
  bus.removeOwner('feature-a');
  t.equal(bus.listenerCount('ping'), 1);
  t.equal(bus.listenerCount('pong'), 1);
  bus.emit('ping', { n: 1 });
  bus.emit('pong', { s: 'x' });
  t.same(heard, ['b:ping', 'b:pong']);
  offB();
  bus.emit('ping', { n: 2 });
  t.same(heard, ['b:ping', 'b:pong'], 'the unsubscribed listener is gone');
  t.equal(bus.listenerCount('ping'), 0);
  bus.removeOwner('nobody');
  t.equal(bus.listenerCount('pong'), 1, 'removing an unknown owner changes nothing');
});

void t.test('a listener removed during emit does not break that emit', async (t) => {
  const bus = new Bus<Events>(captureLogs().log);
  const heard: string[] = [];
  bus.on('a', 'ping', () => {
    heard.push('a');
    bus.removeOwner('b');
  });
  bus.on('b', 'ping', () => void heard.push('b'));
  bus.emit('ping', { n: 1 });
  bus.emit('ping', { n: 2 });
  t.same(heard, ['a', 'b', 'a'], 'the current emit used a snapshot; the next one sees the removal');
});
