import { checkCharFor } from '../kernel/id-number.js';

/** A synthetic person with a valid (made-up) resident ID number, for the demo and tests. */
export interface DemoPerson {
  name: string;
  idNumber: string;
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '马', '朱', '胡', '郭', '何', '林', '高', '罗'];
const GIVEN = ['建国', '秀英', '志强', '丽娟', '海燕', '文博', '晓明', '雪梅', '国庆', '红霞', '伟', '静', '磊', '敏', '军', '洁', '勇', '艳', '杰', '娜'];
/** Henan county codes (Yanjin is 410726). */
const REGIONS = ['410726', '410702', '410703', '410711', '410721', '410724', '410781', '410105'];

/** Deterministic: the same index gives the same person in every process (hub and `simulate`). */
export function demoPerson(index: number): DemoPerson {
  const region = REGIONS[index % REGIONS.length]!;
  const year = 1960 + ((index * 7) % 35);
  const month = 1 + ((index * 5) % 12);
  const day = 1 + ((index * 11) % 28);
  const seq = String(100 + ((index * 37) % 900)).padStart(3, '0');
  const first17 = `${region}${year}${String(month).padStart(2, '0')}${String(day).padStart(2, '0')}${seq}`;
  return {
    name: `${SURNAMES[index % SURNAMES.length]!}${GIVEN[(index * 3) % GIVEN.length]!}`,
    idNumber: first17 + checkCharFor(first17),
  };
}

export function demoPeople(from: number, count: number): DemoPerson[] {
  return Array.from({ length: count }, (_, i) => demoPerson(from + i));
}

/** A well-formed number whose check digit is wrong (the gate's bad-card case). */
export function badIdNumber(index: number): string {
  const good = demoPerson(index).idNumber;
  const wrong = good[17] === '0' ? '1' : good[17] === 'X' ? '0' : String((Number(good[17]) + 1) % 10);
  return good.slice(0, 17) + wrong;
}
