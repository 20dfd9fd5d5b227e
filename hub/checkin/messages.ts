/** What a gate shows the person, per decision, in Chinese (default) and English. */
export const DENY_REASONS = [
  'not-on-roster',
  'outside-window',
  'face-mismatch',
  'liveness-failed',
  'already-inside',
  'session-closed',
  'invalid-id',
  'bad-request',
  // Extensions of the contract (docs/contract.md):
  'reentry-not-allowed',
  'no-seat',
  'emergency',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

const TEXT: Record<'zh' | 'en', Record<DenyReason | 'granted' | 'granted-offline', string>> = {
  zh: {
    granted: '核验通过，请到{room}{seat}号座位',
    'granted-offline': '核验通过，请在候场区等候分配座位',
    'not-on-roster': '您不在本场评标专家名单中，请联系工作人员',
    'outside-window': '未到签到时间，请在{opens}后再来',
    'face-mismatch': '人证比对未通过，请摘下帽子口罩后重试',
    'liveness-failed': '活体检测未通过，请正对摄像头重试',
    'already-inside': '您已在评标区内，请勿重复刷卡',
    'session-closed': '本场评标已结束',
    'invalid-id': '身份证号码无效，请重新放置身份证',
    'bad-request': '设备数据异常，请重试或联系工作人员',
    'reentry-not-allowed': '您已离开评标区，不能再次进入，请联系监督人员',
    'no-seat': '暂无可分配座位，请联系工作人员',
    emergency: '火警疏散中，暂停入场，请按疏散指示撤离',
  },
  en: {
    granted: 'Verified. Please go to {room}, seat {seat}',
    'granted-offline': 'Verified. Please wait in the lobby for your seat',
    'not-on-roster': 'You are not on the expert list of this session; please see the staff',
    'outside-window': 'Check-in has not opened yet; please come back after {opens}',
    'face-mismatch': 'Face does not match the ID card; remove hat or mask and retry',
    'liveness-failed': 'Liveness check failed; please face the camera and retry',
    'already-inside': 'You are already inside the evaluation area',
    'session-closed': 'This evaluation session has ended',
    'invalid-id': 'The ID card number is not valid; please place the card again',
    'bad-request': 'The gate sent incomplete data; please retry or see the staff',
    'reentry-not-allowed': 'You have left the evaluation area and may not re-enter; please see a supervisor',
    'no-seat': 'No seat is free; please see the staff',
    emergency: 'Fire alarm: entry is suspended; please follow the evacuation signs',
  },
};

export function message(lang: 'zh' | 'en', key: DenyReason | 'granted' | 'granted-offline', vars: Record<string, string | number> = {}): string {
  return TEXT[lang][key].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}
