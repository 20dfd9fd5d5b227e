import t from 'tap';
import { checkCharFor, checkIdNumber } from '../../kernel/id-number.js';

const NOW = Date.UTC(2026, 10, 28, 1, 0, 0); // 2026-11-28 09:00 +08:00

function bornOn(yyyymmdd: string): string {
  const first17 = `410726${yyyymmdd}123`;
  return first17 + checkCharFor(first17);
}

void t.test('the birth date must be a real day that has begun, on the injected clock', async (t) => {
  t.match(checkIdNumber(bornOn('19800115'), NOW), { ok: true });
  t.match(checkIdNumber(bornOn('30000101'), NOW), { ok: false, reason: 'birth date is in the future' }, 'the year 3000 with a valid check digit');
  t.match(checkIdNumber(bornOn('20261129'), NOW), { ok: false, reason: 'birth date is in the future' }, 'tomorrow');
  t.match(checkIdNumber(bornOn('20261128'), NOW), { ok: true }, 'today');
  t.match(checkIdNumber(bornOn('20261129'), NOW + 86_400_000), { ok: true }, 'tomorrow, a day later');
  t.match(checkIdNumber(bornOn('19990230'), NOW), { ok: false, reason: 'birth date is not a real date' });
  t.match(checkIdNumber(bornOn('18991231'), NOW), { ok: false, reason: 'birth date is not a real date' });
  const good = bornOn('19800115');
  t.match(checkIdNumber(good.slice(0, 17) + (good[17] === '1' ? '2' : '1'), NOW), { ok: false, reason: 'check digit does not match' });
});
