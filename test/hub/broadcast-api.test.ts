import t from 'tap';
import { MESSAGE_MS, TIMEOUT_MS, startBroadcastHub } from '../helpers/broadcast-hub.js';
import { waitFor } from '../helpers/wait.js';

const W = '/api/broadcast/warnings';

void t.test('roles: only supervisors and admins warn or call; the console reads', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  for (const user of ['op1', 'view1']) {
    const r = await b.call('POST', W, user, { room: 'room-1', messageId: 1, reason: 'x' });
    t.equal(r.status, 403, `${user} may not warn`);
    t.equal(r.body.code, 'HUB_ERR_FORBIDDEN');
    t.equal((await b.call('POST', '/api/broadcast/calls', user, { room: 'room-1', reason: 'x' })).status, 403, `${user} may not call`);
  }
  t.equal((await b.call('POST', W, 'nobody', { room: 'room-1', messageId: 1, reason: 'x' })).status, 401);
  t.equal((await b.call('GET', '/api/broadcast', 'view1')).status, 403, 'viewers do not read the played log');
  t.equal((await b.call('GET', '/api/broadcast', 'op1')).status, 200);
  t.same(b.sim.log(), [], 'nothing refused reached the controller');
  const ok = await b.call('POST', W, 'admin', { room: 'room-2', messageId: 1, reason: 'admin may' });
  t.equal(ok.status, 200);
});

void t.test('bad input: every refusal names the field, nothing is played', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const s = await b.session('P-1', ['room-1', 'room-2']);
  const closed = await b.session('P-OLD', ['room-3']);
  await b.hub.sessions.close(closed.id, 'user:admin');
  const cases: [string, Record<string, unknown>, number, string, string?][] = [
    ['no reason', { room: 'room-1', messageId: 1 }, 400, 'HUB_ERR_VALIDATION', 'body.reason'],
    ['blank reason', { room: 'room-1', messageId: 1, reason: '   ' }, 400, 'HUB_ERR_VALIDATION', 'body.reason'],
    ['unknown room', { room: 'room-9', messageId: 1, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.room'],
    ['no target', { messageId: 1, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.room'],
    ['seat without room', { seat: 2, messageId: 1, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.room'],
    ['seat out of range', { room: 'room-1', seat: 9, messageId: 1, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.seat'],
    ['message not in the catalogue', { room: 'room-1', messageId: 7, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.messageId'],
    ['nothing to play', { room: 'room-1', reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.messageId'],
    ['both message and text', { room: 'room-1', messageId: 1, text: '安静', reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.text'],
    ['unknown field', { room: 'room-1', messageId: 1, reason: 'r', volume: 11 }, 400, 'HUB_ERR_VALIDATION', 'body.volume'],
    ['room outside the session', { sessionId: s.id, room: 'room-3', messageId: 1, reason: 'r' }, 400, 'HUB_ERR_VALIDATION', 'body.room'],
    ['unknown session', { sessionId: 's-nope', messageId: 1, reason: 'r' }, 404, 'HUB_ERR_NOT_FOUND', 'body.sessionId'],
    ['closed session', { sessionId: closed.id, messageId: 1, reason: 'r' }, 409, 'HUB_ERR_CONFLICT', 'body.sessionId'],
    ['room without a broadcast zone', { room: 'room-4', messageId: 1, reason: 'r' }, 422, 'HUB_ERR_UNPROCESSABLE', 'body.room'],
  ];
  for (const [what, body, status, code, field] of cases) {
    const r = await b.call('POST', W, 'sup1', body);
    t.equal(r.status, status, `${what}: status`);
    t.equal(r.body.code, code, `${what}: code`);
    if (field) t.equal((r.body.details as { field?: string } | undefined)?.field, field, `${what}: names ${field}`);
    t.type(r.body.message, 'string');
  }
  t.match((await b.call('POST', W, 'sup1', { room: 'room-9', messageId: 1, reason: 'r' })).body.message, /room-9.* is not a room of this facility .*room-1, room-2/);
  t.same(b.sim.log(), [], 'nothing was played');
  t.equal(b.hub.events.query({ type: 'broadcast.warning' }).length, 0, 'refused input is not a warning');
});

void t.test('a warning to a room, a seat and a session: played where it should, confirmed, logged per session with the supervisor', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const a = await b.session('P-A', ['room-1', 'room-2']);
  const c = await b.session('P-C', ['room-1', 'room-3']);
  const other = await b.session('P-X', ['room-3']);

  const r = await b.call('POST', W, 'sup1', { room: 'room-1', messageId: 2, reason: '三号座位使用手机' });
  t.equal(r.status, 200);
  t.equal(r.body.confirmed, true, 'the controller acknowledged');
  t.match(r.body, { source: 'warning', priority: 'warning', target: 'room-1', by: 'user:sup1', displayName: '监督员一', reason: '三号座位使用手机', message: { id: 2, text: '请将手机等通讯工具关闭，交由工作人员统一保管。' } });
  t.match(r.body.played, [{ deviceId: 'pa-1', zones: [1], rooms: ['room-1'], confirmed: true, outcome: 'playing', via: 'play' }]);
  t.same(r.body.sessionIds, [a.id, c.id].sort(), 'both sessions seated in room-1 were reached, not the other one');
  t.match(b.sim.log(), [{ kind: 'play', zones: [1], message: 2, priority: 2, outcome: 'active' }], 'the simulator plays message 2 in zone 1');

  const ev = b.hub.events.query({ type: 'broadcast.warning' });
  t.equal(ev.length, 1);
  t.equal(ev[0]?.actor, 'user:sup1');
  t.same(ev[0]?.sessionIds, [a.id, c.id].sort());
  t.match(ev[0]?.data, { displayName: '监督员一', reason: '三号座位使用手机', messageId: 2, confirmed: true, rooms: ['room-1'] });
  t.equal(b.hub.events.query({ sessionId: other.id, type: 'broadcast.warning' }).length, 0, 'not logged against a session it did not reach');
  t.ok(b.hub.events.query({ type: 'command.finished' }).some((e) => e.data.cmd === 'play' && e.data.outcome === 'acked'), 'the command ledger has its fate');

  const seat = await b.call('POST', W, 'sup2', { room: 'room-1', seat: 2, text: '请勿交谈', reason: 'seat 2 talking' });
  t.equal(seat.status, 200);
  t.match(seat.body.played, [{ zones: [4], via: 'tts', seat: 2 }], 'seat 2 of room-1 has its own speaker (zone 4)');
  t.match(b.sim.log()[1], { kind: 'tts', zones: [4], text: '请勿交谈', priority: 2 });

  const noSpeaker = await b.call('POST', W, 'sup2', { room: 'room-2', seat: 3, messageId: 1, reason: 'seat 3' });
  t.match(noSpeaker.body.played, [{ zones: [2], seat: 3 }], 'a seat without a speaker gets its room');

  const whole = await b.call('POST', W, 'sup1', { sessionId: other.id, messageId: 1, reason: 'session-wide' });
  t.equal(whole.status, 200);
  t.match(whole.body.played, [{ zones: [3], rooms: ['room-3'] }]);
  t.same(whole.body.sessionIds, [c.id, other.id].sort(), 'room-3 also holds part of P-C');
});

void t.test('a message the controller lacks is spoken from the catalogue text', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { messages: 50 });
  const r = await b.call('POST', W, 'sup1', { room: 'room-2', messageId: 99, reason: 'fallback' });
  t.equal(r.status, 200);
  t.match(r.body.played, [{ via: 'tts', confirmed: true }]);
  t.match(b.sim.log(), [{ kind: 'tts', zones: [2], text: '控制器没有录制这一条。' }]);
});

void t.test('rate limit per target: the 4th warning within a minute is 429, another target is not limited, time heals', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  for (let i = 0; i < 3; i++) {
    const r = await b.call('POST', W, 'sup1', { room: 'room-1', messageId: 1, reason: `warning ${i}` });
    t.equal(r.status, 200, `warning ${i + 1} accepted`);
    await b.advance(MESSAGE_MS); // the message plays out
  }
  const limited = await b.call('POST', W, 'sup2', { room: 'room-1', messageId: 1, reason: 'too many' });
  t.equal(limited.status, 429);
  t.equal(limited.body.code, 'HUB_ERR_RATE_LIMITED');
  t.match(limited.body.message, /room-1 was warned 3 times/);
  t.ok((limited.body.details as { retryAfterSeconds: number }).retryAfterSeconds > 0);
  t.equal((await b.call('POST', W, 'sup2', { room: 'room-1', seat: 2, messageId: 1, reason: 'seat is its own target' })).status, 200);
  t.equal((await b.call('POST', W, 'sup2', { room: 'room-2', messageId: 1, reason: 'other room' })).status, 200);
  t.equal(b.sim.log().filter((e) => e.zones.includes(1)).length, 3, 'the limited warning never reached the controller');
  await b.advance(60_000);
  t.equal((await b.call('POST', W, 'sup2', { room: 'room-1', messageId: 1, reason: 'after a minute' })).status, 200);
});

void t.test('priorities: a warning preempts an announcement; an emergency preempts a warning; equal and lower are refused with a clear answer', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const s = await b.session('P-1', ['room-1']);
  const svc = b.feature.service()!;
  const ann = await svc.announce({ id: 'test', when: { kind: 'before-end', minutes: 30 }, messageId: 11, text: '距离评标结束还有三十分钟，请合理安排时间。', repeat: 1 }, [s]);
  t.equal(ann?.confirmed, true, 'the announcement plays');

  const w = await b.call('POST', W, 'sup1', { room: 'room-1', messageId: 1, reason: 'talking' });
  t.equal(w.status, 200, 'a warning preempts a scheduled announcement');
  await waitFor(() => svc.entry(ann!.id)?.deliveries[0]?.outcome === 'preempted', 8000, 'announcement marked preempted');
  t.match(svc.entry(ann!.id)?.deliveries[0], { outcome: 'preempted', preemptedBy: { kind: 'play', priority: 'warning' } });
  t.match(b.sim.log()[0], { kind: 'play', message: 11, priority: 1, outcome: 'preempted' });
  t.ok(b.hub.events.query({ type: 'broadcast.preempted', sessionId: s.id }).length === 1, 'the preemption is in the session log');

  const same = await b.call('POST', W, 'sup2', { room: 'room-1', messageId: 2, reason: 'again' });
  t.equal(same.status, 409, 'an equal priority does not cut a running warning');
  t.equal(same.body.code, 'HUB_ERR_CONFLICT');
  t.match(same.body.message, /room-1 is busy with a warning by 监督员一 at priority warning/);
  t.match(same.body.details, { warning: { confirmed: false, played: [{ outcome: 'busy', busy: [{ zone: 1, room: 'room-1', source: 'warning', by: '监督员一' }] }] } });
  t.equal(b.hub.events.query({ type: 'broadcast.warning' }).length, 2, 'the refused warning is logged too');

  const announced: unknown[] = [];
  b.hub.bus.on('test', 'broadcast.played', (p) => void announced.push(p));
  b.hub.bus.emit('power.announce', { text: '市电中断，系统由不间断电源供电。', priority: 'emergency', state: 'on-battery' });
  await waitFor(() => b.sim.log().some((e) => e.priority === 3), 8000, 'emergency played');
  const em = b.sim.log().find((e) => e.priority === 3)!;
  t.same(em.zones, [1, 2, 3, 4], 'an emergency takes every zone');
  t.match(b.sim.log()[1], { priority: 2, outcome: 'preempted' }, 'the warning was taken over');
  await waitFor(() => announced.some((a) => (a as { source: string }).source === 'emergency'), 8000, 'emergency logged');
  const ev = b.hub.events.query({ type: 'broadcast.emergency' });
  t.equal(ev[0]?.actor, 'automation:power');
  t.same(ev[0]?.sessionIds, [s.id]);

  const during = await b.call('POST', W, 'sup1', { room: 'room-2', messageId: 1, reason: 'during the emergency' });
  t.equal(during.status, 409, 'no warning over an emergency');
  t.match(during.body.message, /room-2 is busy with an emergency by automation:power at priority emergency/);
  t.equal(b.sim.log().filter((e) => e.priority === 2).length, 1, 'the refused warning was not sent');

  // A lower priority waits (bounded) for the zones, then plays or is skipped.
  const spec = { id: 'low', when: { kind: 'after-start' as const, minutes: 0 }, messageId: null, text: '测试', repeat: 1 };
  const waiting = svc.announce(spec, [s]);
  await b.advance(MESSAGE_MS); // the emergency plays out
  t.equal((await waiting)?.confirmed, true, 'the announcement played once the emergency was over');
  t.match(b.sim.log().at(-1), { kind: 'tts', text: '测试', priority: 1, zones: [1] });

  const s2 = await b.session('P-2', ['room-2']);
  t.equal((await b.call('POST', '/api/broadcast/calls', 'sup1', { room: 'room-2', reason: 'talk' })).status, 201);
  const skipped = svc.announce(spec, [s2]);
  await b.advance(120_000);
  t.equal((await skipped)?.confirmed, false, 'not free within announcementWaitSeconds: skipped');
  t.match(b.hub.events.query({ type: 'broadcast.announcement', sessionId: s2.id })[0]?.data, { skipped: true, outcome: 'busy' });
});

void t.test('a warning waits (bounded) for an equal priority to finish', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { broadcast: '  warningWaitMs: 3000' });
  // The hub's own periodic timers (e.g. the token check) are pending all the time.
  const idle = b.clock.pendingTimers();
  t.equal((await b.call('POST', W, 'sup1', { room: 'room-1', messageId: 1, reason: 'first' })).status, 200);
  const second = b.call('POST', W, 'sup2', { room: 'room-1', messageId: 2, reason: 'second' });
  await waitFor(() => b.clock.pendingTimers() > idle && b.hub.events.query({ type: 'broadcast.warning' }).length === 1, 8000, 'second waiting');
  await b.advance(MESSAGE_MS); // the first plays out; the second goes
  const r = await second;
  t.equal(r.status, 200, 'played once the room was free');
  t.match(b.sim.log(), [{ message: 1, outcome: 'done' }, { message: 2, outcome: 'active' }]);

  const third = b.call('POST', W, 'sup1', { room: 'room-1', messageId: 1, reason: 'third' });
  await waitFor(() => b.hub.events.query({ type: 'broadcast.warning' }).length === 2 && b.clock.pendingTimers() > idle + 1, 8000, 'third waiting');
  await b.advance(3000);
  const r3 = await third;
  t.equal(r3.status, 409, 'not free within the wait: refused');
  t.match(r3.body.message, /room-1 is busy with a warning by 监督员二/);
});

void t.test('live calls: recording id at start, duration at stop, logged per session; an emergency cuts a call', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const s = await b.session('P-1', ['room-1', 'room-2']);
  const start = await b.call('POST', '/api/broadcast/calls', 'sup1', { sessionId: s.id, reason: '提醒评标纪律' });
  t.equal(start.status, 201);
  t.equal(start.body.recordingId, 'R000001');
  t.equal(start.body.live, true);
  t.match(start.body.played, [{ zones: [1, 2], outcome: 'live', via: 'call', recordingId: 'R000001' }]);
  t.match(b.sim.log(), [{ kind: 'call', zones: [1, 2], priority: 2, recordingId: 'R000001', outcome: 'active' }]);

  const busy = await b.call('POST', W, 'sup2', { room: 'room-2', messageId: 1, reason: 'during the call' });
  t.equal(busy.status, 409);
  t.match(busy.body.message, /room-2 is busy with a live call by 监督员一/);

  const status = await b.call('GET', '/api/broadcast', 'op1');
  t.match((status.body.calls as unknown[])[0], { id: start.body.id, recordingId: 'R000001' });

  await b.advance(42_000);
  const stop = await b.call('POST', `/api/broadcast/calls/${String(start.body.id)}/stop`, 'sup2');
  t.equal(stop.status, 200);
  t.equal(stop.body.recordingId, 'R000001');
  t.equal(stop.body.durationMs, 42_000, 'the recording length the controller reports');
  t.equal(stop.body.live, false);
  t.match(b.sim.log()[0], { outcome: 'done' });
  const again = await b.call('POST', `/api/broadcast/calls/${String(start.body.id)}/stop`, 'sup1');
  t.equal(again.status, 200, 'stopping twice answers the same result');
  t.equal(again.body.durationMs, 42_000);
  t.equal((await b.call('POST', '/api/broadcast/calls/c-none/stop', 'sup1')).status, 404);

  const started = b.hub.events.query({ type: 'broadcast.call.started', sessionId: s.id });
  const stopped = b.hub.events.query({ type: 'broadcast.call.stopped', sessionId: s.id });
  t.equal(started.length, 1);
  t.equal(stopped.length, 1);
  t.match(started[0], { actor: 'user:sup1', data: { displayName: '监督员一', reason: '提醒评标纪律' } });
  t.match(stopped[0], { actor: 'user:sup2', data: { displayName: '监督员二', durationMs: 42_000, startedBy: 'user:sup1', recordings: [{ recordingId: 'R000001' }] } });

  const call2 = await b.call('POST', '/api/broadcast/calls', 'sup1', { room: 'room-3', reason: 'second call' });
  t.equal(call2.status, 201);
  b.hub.bus.emit('fire.alarm', { active: true, deviceId: 'fire-1' });
  await waitFor(() => b.sim.log().some((e) => e.priority === 3), 8000, 'evacuation message');
  t.match(b.sim.log().find((e) => e.priority === 3), { kind: 'play', message: 20, repeat: 2, zones: [1, 2, 3, 4] });
  await waitFor(() => b.feature.service()!.entry(String(call2.body.id))?.deliveries[0]?.outcome === 'preempted', 8000, 'call cut');
  await b.advance(5000);
  const stop2 = await b.call('POST', `/api/broadcast/calls/${String(call2.body.id)}/stop`, 'sup1');
  t.equal(stop2.status, 200, 'a preempted call still answers its recording');
  t.equal(stop2.body.durationMs, 0, 'it lasted until the preemption');
  b.hub.bus.emit('fire.alarm', { active: false, deviceId: 'fire-1' });
  await waitFor(() => b.sim.log().find((e) => e.priority === 3)?.outcome === 'stopped', 8000, 'evacuation message stopped when the alarm clears');
});

void t.test('calls are hung up after the maximum length', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { broadcast: '  maxCallSeconds: 60' });
  const start = await b.call('POST', '/api/broadcast/calls', 'sup1', { room: 'room-1', reason: 'forgotten' });
  t.equal(start.status, 201);
  await b.advance(60_000);
  await waitFor(() => b.hub.events.query({ type: 'broadcast.call.stopped' }).length === 1, 8000, 'automatic stop');
  t.match(b.hub.events.query({ type: 'broadcast.call.stopped' })[0], { actor: 'automation:broadcast', data: { reason: 'maximum call length reached', durationMs: 60_000 } });
  t.match(b.sim.log()[0], { kind: 'call', outcome: 'done' });
});

void t.test('the controller does not answer: 504, then unavailable (503), then back after probing', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  b.sim.setUnresponsive(true);
  for (let i = 0; i < 2; i++) {
    const pending = b.call('POST', W, 'sup1', { room: `room-${i + 1}`, messageId: 1, reason: 'no answer' });
    await waitFor(() => b.device.client.pendingRequests() > 0, 8000, 'request on the line');
    await b.advance(TIMEOUT_MS);
    const r = await pending;
    t.equal(r.status, 504, `miss ${i + 1}: timeout`);
    t.equal(r.body.code, 'HUB_ERR_DEVICE_TIMEOUT');
  }
  await waitFor(() => !b.hub.availability.isAvailable('pa-1'), 8000, 'unavailable after 2 misses');
  t.match(b.hub.availability.get('pa-1')?.reason, /unanswered/);
  const down = await b.call('POST', W, 'sup1', { room: 'room-3', messageId: 1, reason: 'while down' });
  t.equal(down.status, 503);
  t.equal(down.body.code, 'HUB_ERR_DEVICE_UNAVAILABLE');
  t.equal(b.hub.events.query({ type: 'broadcast.warning' }).length, 3, 'each attempt is logged with its outcome');

  b.sim.setUnresponsive(false);
  for (let i = 0; i < 40 && !b.hub.availability.isAvailable('pa-1'); i++) await b.advance(400);
  await waitFor(() => b.hub.availability.isAvailable('pa-1'), 8000, 'available again');
  const ok = await b.call('POST', W, 'sup1', { room: 'room-3', messageId: 1, reason: 'back' });
  t.equal(ok.status, 200);
  t.ok((b.device.stats().timeouts ?? 0) >= 2);
});

void t.test('a zone fault is an alarm, shows in the device state, and refuses warnings there until it clears', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const s = await b.session('P-1', ['room-3']);
  const alarms: unknown[] = [];
  b.hub.bus.on('test', 'alarm.raised', (a) => void alarms.push(a));
  b.hub.bus.on('test', 'alarm.cleared', (a) => void alarms.push(a));
  b.sim.injectFault(3, '功放过热');
  await waitFor(() => alarms.length === 1, 8000, 'alarm');
  t.match(alarms[0], { id: 'broadcast:pa-1:zone-3', source: 'pa-1', severity: 'warning', message: /zone 3 \(room-3\): 功放过热/ });
  await waitFor(() => b.hub.events.query({ type: 'broadcast.zone.fault' }).length === 1, 8000, 'fault logged');
  t.same(b.hub.events.query({ type: 'broadcast.zone.fault' })[0]?.sessionIds, [s.id]);
  const dev = await b.call('GET', '/api/devices/pa-1', 'view1');
  t.same((dev.body.state as { faultedZones: number[] }).faultedZones, [3]);
  const st = await b.call('GET', '/api/broadcast', 'sup1');
  t.match((st.body.devices as unknown[])[0], { faultedZones: [3], zones: [{ zone: 1 }, { zone: 2 }, { zone: 3, state: 'fault', fault: '功放过热' }, { zone: 4 }] });
  const r = await b.call('POST', W, 'sup1', { room: 'room-3', messageId: 1, reason: 'r' });
  t.equal(r.status, 409);
  t.match(r.body.message, /room-3 is in fault/);
  t.equal((await b.call('POST', W, 'sup1', { room: 'room-2', messageId: 1, reason: 'r' })).status, 200, 'other zones still work');
  b.sim.clearFault(3);
  await waitFor(() => alarms.length === 2, 8000, 'cleared');
  t.match(alarms[1], { id: 'broadcast:pa-1:zone-3' });
  t.equal((await b.call('POST', W, 'sup1', { room: 'room-3', messageId: 1, reason: 'r' })).status, 200);
});

void t.test('GET /api/broadcast: recent played log newest first, catalogue, limits', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  await b.call('POST', W, 'sup1', { room: 'room-1', messageId: 1, reason: 'one' });
  await b.call('POST', W, 'sup1', { room: 'room-2', text: '请安静', reason: 'two' });
  const r = await b.call('GET', '/api/broadcast?limit=1', 'sup1');
  t.equal(r.status, 200);
  t.match(r.body.recent, [{ reason: 'two', message: { id: null, text: '请安静' }, played: [{ rooms: ['room-2'], via: 'tts' }] }]);
  t.equal((r.body.messages as unknown[]).length, 5);
  t.same(r.body.limits, { warningsPerTarget: 3, windowSeconds: 60 });
  t.match(r.body.devices, [{ id: 'pa-1', available: true, protocolVersion: 1, link: 'connected' }]);
});

void t.test('operators use the generic device command path at scheduled priority only', async (t) => {
  const b = await startBroadcastHub(t, 'tcp');
  const r = await b.call('POST', '/api/devices/pa-1/commands', 'op1', { cmd: 'chime', args: { room: 'room-2' } });
  t.equal(r.status, 200);
  t.match(b.sim.log(), [{ kind: 'chime', zones: [2], priority: 1 }]);
  const bad = await b.call('POST', '/api/devices/pa-1/commands', 'op1', { cmd: 'play', args: { room: 'room-9', message: 1 } });
  t.equal(bad.status, 400, 'an argument error is the caller\'s (issue #11 item 11), not the device refusing');
  t.match(bad.body, { code: 'HUB_ERR_VALIDATION', message: /room/, details: { field: 'body.args.room' } });
  t.equal(b.sim.log().length, 1, 'nothing was sent for it');
  const st = await b.call('POST', '/api/devices/pa-1/commands', 'op1', { cmd: 'status', args: {} });
  t.equal(st.status, 200);
  t.match(st.body.result, { zones: [{ zone: 1 }, { zone: 2, state: 'playing' }] });
});
