// The one message catalogue of the console and the public display: every status, reason,
// alarm and label a person reads goes through t(). Chinese is the default; English is the
// switch. A key missing in English falls back to Chinese, a key missing in both shows itself
// (so a gap is visible, never blank).

const zh = {
  'app.title': '评标区控制台',
  'app.lang': 'English',
  'login.title': '登录',
  'login.user': '用户名',
  'login.password': '密码',
  'login.submit': '登录',
  'login.ended': '登录已过期，请重新登录',
  logout: '退出',
  'role.admin': '管理员', 'role.supervisor': '监督员', 'role.operator': '操作员', 'role.viewer': '观察员',
  'nav.floor': '平面图', 'nav.sessions': '评标场次', 'nav.supervise': '监督面板', 'nav.power': '电源',
  'nav.alarms': '告警', 'nav.timeline': '时间线', 'nav.health': 'IT健康指数', 'nav.devices': '设备',
  'nav.jammers': '屏蔽器与机器人', 'nav.users': '用户', 'nav.public': '公示大屏',
  'live.on': '实时连接', 'live.off': '正在重新连接…',
  'na': '未提供 / not available',
  none: '无',
  yes: '是', no: '否', cancel: '取消', save: '保存', close: '关闭', refresh: '刷新',
  // sessions
  'session.code': '项目编号', 'session.name': '项目名称', 'session.status': '状态', 'session.opens': '签到开始',
  'session.start': '开始', 'session.end': '结束', 'session.rooms': '评标室', 'session.roster': '名单人数', 'session.inside': '在场',
  'session.create': '新建评标场次', 'session.created': '已创建场次 {code}', 'session.closeIt': '结束场次', 'session.cancelIt': '取消场次',
  'session.closed': '场次已结束', 'session.confirmClose': '确定结束该场次？绑定的设备将被释放。',
  'session.pick': '选择场次', 'session.noneSelected': '请选择一个场次',
  'status.scheduled': '未开始', 'status.check-in': '签到中', 'status.in-progress': '评标中', 'status.closed': '已结束', 'status.cancelled': '已取消',
  'roster.upload': '导入专家名单（CSV：name,idNumber,role）', 'roster.submit': '导入', 'roster.ok': '已导入 {n} 人',
  'roster.errors': '{n} 行有错误，未作任何修改：', 'roster.row': '第 {row} 行 {field}：{message}',
  // check-ins
  'checkin.name': '姓名', 'checkin.id': '证件号', 'checkin.room': '评标室', 'checkin.seat': '座位', 'checkin.status': '状态',
  'checkin.gate': '闸机', 'checkin.granted': '核验时间', 'checkin.passed': '通行时间', 'checkin.left': '离开时间',
  'checkin.board': '实时签到看板', 'checkin.offline': '（离线放行）',
  'cstatus.granted': '已核验', 'cstatus.inside': '在场', 'cstatus.left': '已离开', 'cstatus.expired': '超时未通行', 'cstatus.superseded': '已被替代',
  'seat.n': '{n}号座', 'seat.free': '空闲', 'seat.title': '{room} {seat}号座',
  // deny reasons
  'reason.not-on-roster': '不在名单', 'reason.outside-window': '不在签到时间', 'reason.face-mismatch': '人证不符',
  'reason.liveness-failed': '活体检测失败', 'reason.already-inside': '已在场内', 'reason.session-closed': '场次已结束',
  'reason.invalid-id': '证件号无效', 'reason.bad-request': '数据异常', 'reason.reentry-not-allowed': '不允许再次进入', 'reason.no-seat': '无空余座位',
  // feed
  'feed.title': '闸机核验动态',
  'feed.granted': '{time} {gate}：核验通过 {who} → {room} {seat}号座', 'feed.denied': '{time} {gate}：拒绝 {who}（{reason}）',
  'feed.passed': '{time} {gate}：已通行 → {room} {seat}号座', 'feed.left': '{time} {gate}：离开 {room} {seat}号座',
  'feed.expired': '{time} {gate}：核验后超时未通行', 'feed.reconciled': '{time} {gate}：离线放行已核对 {who}', 'feed.unmatched': '{time} {gate}：离线放行了不在名单上的人员',
  // warnings
  'warn.action': '警示', 'warn.title': '警示 {target}', 'warn.catalogue': '预置语音', 'warn.text': '或自定义文字', 'warn.reason': '原因（记录在案，必填）',
  'warn.submit': '播放警示', 'warn.played': '已播放（{id}），广播主机已确认。', 'warn.unconfirmed': '已发送（{id}），广播主机未确认。', 'warn.failed': '未播放：{message}',
  'warn.target': '对象', 'warn.room': '评标室', 'warn.seat': '座位（可选）', 'warn.whole': '整个场次', 'warn.log': '警示记录', 'warn.needText': '请选择预置语音或填写文字',
  'call.start': '开始喊话', 'call.stop': '结束喊话', 'call.active': '喊话中',
  // power
  'power.title': '电源', 'power.state': '状态', 'power.mains': '市电', 'power.battery': '电池电量', 'power.runtime': '剩余续航',
  'power.stage': '当前应急阶段', 'power.shed': '已卸载负荷', 'power.loads': '负荷', 'power.history': '最近 {h} 小时', 'power.minutes': '{n} 分钟',
  'power.present': '正常', 'power.absent': '中断',
  'pstate.mains-ok': '市电正常', 'pstate.on-battery': '电池供电', 'pstate.low-battery': '电池电量低', 'pstate.critical': '电量危急', 'pstate.unknown': '未知',
  'stage.announce': '广播通知', 'stage.shed': '卸载负荷', 'stage.runtime-check': '续航核查', 'stage.shutdown-hosts': '关闭主机', 'stage.hub-shutdown': '关闭控制中心', 'stage.restore': '恢复供电',
  // alarms
  'alarms.none': '当前无告警', 'alarms.ack': '确认', 'alarms.acked': '已由 {who} 确认',
  'sev.critical': '严重', 'sev.warning': '警告', 'sev.info': '提示',
  'alarm.offline-unmatched': '{device}离线放行了不在当前名单上的人员', 'alarm.ups-comm-lost': '{device}通信中断', 'alarm.ups-invalid-data': '{device}上报数据异常',
  'alarm.relay-mismatch': '{device}输出{output}与指令不符', 'alarm.broadcast-zone': '{device}广播分区故障', 'alarm.power-runtime-short': 'UPS续航不足以完成进行中的评标',
  'alarm.fire': '火灾报警：{device}',
  // devices
  'device.name': '设备', 'device.kind': '类型', 'device.available': '可用', 'device.lastSeen': '最后通信', 'device.never': '从未',
  'kind.gate': '闸机', 'kind.door': '门禁', 'kind.robot': '送餐机器人', 'kind.fire-panel': '消防主机', 'kind.relay': '继电器模块', 'kind.ups': 'UPS', 'kind.broadcast': '广播主机',
  // timeline
  'tl.time': '时间', 'tl.type': '事件', 'tl.actor': '操作者', 'tl.device': '设备', 'tl.detail': '详情', 'tl.print': '打印报告',
  'tl.verify': '审计校验', 'tl.verifyNa': '审计校验：未提供 / not available', 'tl.verifyOk': '审计链完整（共 {n} 条记录）', 'tl.verifyBad': '审计链被篡改：第 {seq} 条',
  'tl.export': '导出证据包', 'tl.report': '评标场次记录报告', 'tl.printed': '打印时间 {time}',
  'actor.hub': '控制中心', 'actor.automation': '自动', 'actor.user': '用户', 'actor.device': '设备',
  // health
  'health.overall': '综合', 'health.history': '历史趋势', 'health.none': '尚无数据', 'health.na': '不适用',
  'sub.broker': '消息总线', 'sub.store': '数据存储', 'sub.gates': '闸机', 'sub.power': '电源', 'sub.pa': '广播', 'sub.jammers': '屏蔽器', 'sub.robot': '机器人',
  // warning log sources, jammer causes and overrides, user administration
  'source.warning': '警示', 'source.call': '喊话', 'source.announcement': '定时广播', 'source.emergency': '紧急广播',
  'warn.logConfirmed': '✓ 已确认', 'warn.logUnconfirmed': '未确认',
  'jcause.fire-interlock': '火警联锁，强制关闭', 'jcause.override-off': '管理员覆盖：关闭', 'jcause.override-on': '管理员覆盖：开启',
  'jcause.max-on-time': '已达最长开启时间', 'jcause.session': '评标进行中', 'jcause.no-session': '无评标场次',
  'jam.cause': '原因', 'jam.mode': '方式', 'jam.forceOff': '强制关闭', 'jam.forceOn': '强制开启', 'jam.apply': '执行覆盖', 'jam.end': '结束覆盖',
  'jam.failing': '读回不符', 'jam.overrideText': '{mode}，至 {until}，{by}：{reason}',
  'jam.needReason': '请填写原因（至少 2 个字）/ A reason of at least 2 characters is required',
  'jam.needExpiry': '请填写到期时间（1–10080 分钟）/ An expiry of 1–10080 minutes is required',
  'jam.applied': '已覆盖 {zone}：{cause}', 'jam.ended': '已结束 {zone} 的覆盖：{cause}',
  'err.refused': '未执行：{message}',
  'role.platform': '交易平台接口',
  'users.state': '状态', 'users.created': '创建时间', 'users.enabled': '启用', 'users.disabled': '已停用', 'users.enable': '启用', 'users.disable': '停用',
  'users.create': '新建用户', 'users.password': '初始密码（至少 12 位）', 'users.newPassword': '新密码（至少 12 位）', 'users.reset': '重置密码',
  'users.nameRule': '小写字母开头，可含小写字母、数字、. _ -',
  'users.created.ok': '已创建用户 {user}（{role}）', 'users.roleChanged': '已将 {user} 的角色改为{role}', 'users.disabledOk': '已停用 {user}，其登录已结束',
  'users.enabledOk': '已启用 {user}', 'users.resetOk': '已重置 {user} 的密码，其登录已结束',
  // jammers, robot, users
  'jam.zone': '屏蔽区', 'jam.state': '状态', 'jam.on': '开启', 'jam.off': '关闭', 'jam.unknown': '未知', 'jam.override': '手动覆盖', 'jam.reason': '原因（必填）', 'jam.expiry': '到期（分钟）',
  'robot.tasks': '送餐任务', 'door.title': '门禁', 'users.title': '用户管理', 'users.name': '用户名', 'users.display': '姓名', 'users.role': '角色',
  // public
  'pub.title': '评标区实时公示', 'pub.rooms': '评标室', 'pub.inSession': '使用中', 'pub.idle': '空闲', 'pub.inside': '在场专家 {n} 人',
  'pub.jammer': '信号屏蔽', 'pub.sessions': '进行中场次 {n}', 'pub.total': '在场专家共 {n} 人', 'pub.updated': '更新于 {time}',
  'err.network': '网络错误：{message}',
  // robot tasks (hub/robot)
  'rtask.id': '任务', 'rtask.session': '场次', 'rtask.where': '送往', 'rtask.state': '状态', 'rtask.reason': '原因', 'rtask.seat': '{n}号座', 'rtask.none': '暂无送餐任务',
  'rtask.queued': '排队中', 'rtask.dispatched': '已出发', 'rtask.at-door': '到达门禁', 'rtask.in-area': '评标区内', 'rtask.delivered': '已送达', 'rtask.returned': '已返回',
  'rtask.failed': '失败', 'rtask.cancelled': '已取消', 'rtask.suspended': '已暂停',
  // the demo's fire drill (simulated fire panel)
  'demo.fire.title': '演示：模拟消防主机', 'demo.fire.alarm': '触发火警', 'demo.fire.clear': '清除火警', 'demo.fire.sent': '已触发模拟火警', 'demo.fire.cleared': '已清除模拟火警',
  // event types on the timeline (the code itself stays in the cell's title)
  'ev.alarm.raised': '告警产生', 'ev.alarm.acknowledged': '告警已确认', 'ev.alarm.cleared': '告警已解除',
  'ev.audit.session-sealed': '场次日志封存', 'ev.broadcast.warning': '警告广播', 'ev.broadcast.announcement': '广播通知',
  'ev.broadcast.announcement.missed': '广播未播出', 'ev.broadcast.emergency': '紧急广播', 'ev.broadcast.played': '广播已播放',
  'ev.broadcast.preempted': '广播被打断', 'ev.broadcast.call.started': '开始喊话', 'ev.broadcast.call.stopped': '结束喊话',
  'ev.broadcast.zone.fault': '广播分区故障', 'ev.broadcast.zone.fault-cleared': '广播分区故障解除', 'ev.checkin.granted': '核验通过',
  'ev.checkin.denied': '核验拒绝', 'ev.checkin.passed': '通行', 'ev.checkin.left': '离开',
  'ev.checkin.expired': '核验超时未通行', 'ev.checkin.repeat-refused': '重复核验被拒', 'ev.checkin.request-reused': '请求号重复',
  'ev.checkin.offline-reconciled': '离线记录已核对', 'ev.checkin.offline-duplicate': '离线记录重复', 'ev.checkin.offline-unmatched': '离线记录无法匹配',
  'ev.command.sent': '指令已下发', 'ev.command.finished': '指令已完成', 'ev.command.refused': '指令被拒',
  'ev.command.abandoned': '指令已放弃', 'ev.device.event': '设备事件', 'ev.device.state': '设备状态',
  'ev.door.decision': '门禁开门请求', 'ev.door.lock': '门锁状态', 'ev.door.admin-open': '管理员开门',
  'ev.hub.started': '控制主机启动', 'ev.hub.stopped': '控制主机停止', 'ev.integration.created': '集成账号已创建',
  'ev.integration.disabled': '集成账号已停用', 'ev.integration.rotated': '集成账号令牌已更换', 'ev.integration.refused': '集成账号访问被拒',
  'ev.jammer.zone': '屏蔽器状态', 'ev.jammer.override': '屏蔽器人工干预', 'ev.jammer.interlock': '屏蔽器消防联锁',
  'ev.jammer.write-failed': '屏蔽器切换失败', 'ev.power.state': '电源状态', 'ev.power.stage': '断电处置阶段',
  'ev.power.runtime-short': '电池续航不足', 'ev.power.hub-shutdown': '控制主机关机', 'ev.robot.task': '送餐任务',
  'ev.robot.meals': '送餐时间', 'ev.robot.meal.skipped': '送餐已跳过', 'ev.robot.report.rejected': '机器人报告被拒',
  'ev.session.created': '场次已创建', 'ev.session.status': '场次状态变化', 'ev.session.roster': '专家名单',
  'ev.user.created': '用户已创建', 'ev.user.disabled': '用户已停用', 'ev.user.enabled': '用户已启用',
  'ev.user.password-changed': '密码已修改', 'ev.user.renamed': '用户已改名', 'ev.user.role-changed': '角色已变更',
  'ev.user.tokens-ended': '登录已注销',
};

const en = {
  'app.title': 'Evaluation area console', 'app.lang': '中文',
  'login.title': 'Log in', 'login.user': 'User', 'login.password': 'Password', 'login.submit': 'Log in', 'login.ended': 'Your session ended; please log in again.',
  logout: 'Log out',
  'role.admin': 'admin', 'role.supervisor': 'supervisor', 'role.operator': 'operator', 'role.viewer': 'viewer',
  'nav.floor': 'Floor plan', 'nav.sessions': 'Sessions', 'nav.supervise': 'Supervisor', 'nav.power': 'Power', 'nav.alarms': 'Alarms',
  'nav.timeline': 'Timeline', 'nav.health': 'IT health', 'nav.devices': 'Devices', 'nav.jammers': 'Jammers & robot', 'nav.users': 'Users', 'nav.public': 'Public display',
  'live.on': 'live', 'live.off': 'reconnecting…', na: '未提供 / not available', none: 'none',
  yes: 'yes', no: 'no', cancel: 'Cancel', save: 'Save', close: 'Close', refresh: 'Refresh',
  'session.code': 'Code', 'session.name': 'Name', 'session.status': 'Status', 'session.opens': 'Check-in opens', 'session.start': 'Start', 'session.end': 'End',
  'session.rooms': 'Rooms', 'session.roster': 'Roster', 'session.inside': 'Inside', 'session.create': 'New evaluation session', 'session.created': 'Session {code} created',
  'session.closeIt': 'Close session', 'session.cancelIt': 'Cancel session', 'session.closed': 'Session closed', 'session.confirmClose': 'Close this session? Its devices are released.',
  'session.pick': 'Session', 'session.noneSelected': 'Pick a session',
  'status.scheduled': 'scheduled', 'status.check-in': 'check-in', 'status.in-progress': 'in progress', 'status.closed': 'closed', 'status.cancelled': 'cancelled',
  'roster.upload': 'Import the roster (CSV: name,idNumber,role)', 'roster.submit': 'Import', 'roster.ok': '{n} imported',
  'roster.errors': '{n} row(s) with errors; nothing was changed:', 'roster.row': 'row {row} {field}: {message}',
  'checkin.name': 'Name', 'checkin.id': 'ID', 'checkin.room': 'Room', 'checkin.seat': 'Seat', 'checkin.status': 'Status', 'checkin.gate': 'Gate',
  'checkin.granted': 'Granted', 'checkin.passed': 'Passed', 'checkin.left': 'Left', 'checkin.board': 'Live check-in board', 'checkin.offline': ' (offline)',
  'cstatus.granted': 'granted', 'cstatus.inside': 'inside', 'cstatus.left': 'left', 'cstatus.expired': 'expired', 'cstatus.superseded': 'superseded',
  'seat.n': 'seat {n}', 'seat.free': 'free', 'seat.title': '{room} seat {seat}',
  'reason.not-on-roster': 'not on roster', 'reason.outside-window': 'outside the window', 'reason.face-mismatch': 'face mismatch', 'reason.liveness-failed': 'liveness failed',
  'reason.already-inside': 'already inside', 'reason.session-closed': 'session closed', 'reason.invalid-id': 'invalid ID', 'reason.bad-request': 'bad request',
  'reason.reentry-not-allowed': 're-entry not allowed', 'reason.no-seat': 'no seat free',
  'feed.title': 'Gate decisions',
  'feed.granted': '{time} {gate}: granted {who} → {room} seat {seat}', 'feed.denied': '{time} {gate}: denied {who} ({reason})',
  'feed.passed': '{time} {gate}: passed → {room} seat {seat}', 'feed.left': '{time} {gate}: left {room} seat {seat}', 'feed.expired': '{time} {gate}: grant expired (not passed in time)',
  'feed.reconciled': '{time} {gate}: offline pass reconciled {who}', 'feed.unmatched': '{time} {gate}: offline pass of someone not on the allow-list',
  'warn.action': 'Warn', 'warn.title': 'Warn {target}', 'warn.catalogue': 'Recorded message', 'warn.text': 'or a text', 'warn.reason': 'Reason (logged, required)',
  'warn.submit': 'Play warning', 'warn.played': 'Played ({id}), confirmed by the controller.', 'warn.unconfirmed': 'Sent ({id}), not confirmed by the controller.',
  'warn.failed': 'Not played: {message}', 'warn.target': 'Target', 'warn.room': 'Room', 'warn.seat': 'Seat (optional)', 'warn.whole': 'the whole session', 'warn.log': 'Warning log',
  'warn.needText': 'Choose a recorded message or enter a text', 'call.start': 'Start live call', 'call.stop': 'End live call', 'call.active': 'live call',
  'power.title': 'Power', 'power.state': 'State', 'power.mains': 'Mains', 'power.battery': 'Battery', 'power.runtime': 'Runtime', 'power.stage': 'Failover stage',
  'power.shed': 'Shed loads', 'power.loads': 'Loads', 'power.history': 'last {h} hours', 'power.minutes': '{n} min', 'power.present': 'present', 'power.absent': 'lost',
  'pstate.mains-ok': 'mains OK', 'pstate.on-battery': 'on battery', 'pstate.low-battery': 'low battery', 'pstate.critical': 'critical', 'pstate.unknown': 'unknown',
  'stage.announce': 'announce', 'stage.shed': 'shed loads', 'stage.runtime-check': 'runtime check', 'stage.shutdown-hosts': 'shut down hosts', 'stage.hub-shutdown': 'hub shutdown', 'stage.restore': 'restore',
  'alarms.none': 'No active alarm', 'alarms.ack': 'Acknowledge', 'alarms.acked': 'acknowledged by {who}',
  'sev.critical': 'critical', 'sev.warning': 'warning', 'sev.info': 'info',
  'alarm.offline-unmatched': '{device} let someone in offline who is not on the current allow-list', 'alarm.ups-comm-lost': '{device} stopped answering',
  'alarm.ups-invalid-data': '{device} reports impossible values', 'alarm.relay-mismatch': '{device} output {output} does not follow its command',
  'alarm.broadcast-zone': '{device} PA zone fault', 'alarm.power-runtime-short': 'UPS runtime too short for the running sessions', 'alarm.fire': 'Fire alarm: {device}',
  'device.name': 'Device', 'device.kind': 'Kind', 'device.available': 'Available', 'device.lastSeen': 'Last seen', 'device.never': 'never',
  'kind.gate': 'gate', 'kind.door': 'door', 'kind.robot': 'robot', 'kind.fire-panel': 'fire panel', 'kind.relay': 'relay module', 'kind.ups': 'UPS', 'kind.broadcast': 'PA controller',
  'tl.time': 'Time', 'tl.type': 'Event', 'tl.actor': 'Actor', 'tl.device': 'Device', 'tl.detail': 'Detail', 'tl.print': 'Print report',
  'tl.verify': 'Audit verification', 'tl.verifyNa': 'Audit verification: 未提供 / not available', 'tl.verifyOk': 'Audit chain intact ({n} records)', 'tl.verifyBad': 'Audit chain broken at record {seq}',
  'tl.export': 'Export evidence pack', 'tl.report': 'Evaluation session report', 'tl.printed': 'Printed {time}',
  'actor.hub': 'hub', 'actor.automation': 'automation', 'actor.user': 'user', 'actor.device': 'device',
  'health.overall': 'Overall', 'health.history': 'History', 'health.none': 'no data yet', 'health.na': 'n/a',
  'sub.broker': 'Broker', 'sub.store': 'Store', 'sub.gates': 'Gates', 'sub.power': 'Power', 'sub.pa': 'PA', 'sub.jammers': 'Jammers', 'sub.robot': 'Robot',
  'source.warning': 'warning', 'source.call': 'live call', 'source.announcement': 'announcement', 'source.emergency': 'emergency',
  'warn.logConfirmed': '✓ confirmed', 'warn.logUnconfirmed': 'not confirmed',
  'jcause.fire-interlock': 'fire interlock, forced off', 'jcause.override-off': 'admin override: off', 'jcause.override-on': 'admin override: on',
  'jcause.max-on-time': 'maximum on-time reached', 'jcause.session': 'session in progress', 'jcause.no-session': 'no session',
  'jam.cause': 'Cause', 'jam.mode': 'Mode', 'jam.forceOff': 'force off', 'jam.forceOn': 'force on', 'jam.apply': 'Apply override', 'jam.end': 'End override',
  'jam.failing': 'read-back mismatch', 'jam.overrideText': '{mode} until {until}, {by}: {reason}',
  'jam.needReason': 'A reason of at least 2 characters is required / 请填写原因（至少 2 个字）',
  'jam.needExpiry': 'An expiry of 1–10080 minutes is required / 请填写到期时间（1–10080 分钟）',
  'jam.applied': '{zone} overridden: {cause}', 'jam.ended': 'override of {zone} ended: {cause}',
  'err.refused': 'Not done: {message}',
  'role.platform': 'platform',
  'users.state': 'State', 'users.created': 'Created', 'users.enabled': 'enabled', 'users.disabled': 'disabled', 'users.enable': 'Enable', 'users.disable': 'Disable',
  'users.create': 'New user', 'users.password': 'Initial password (12+ characters)', 'users.newPassword': 'New password (12+ characters)', 'users.reset': 'Reset password',
  'users.nameRule': 'a lower-case letter first, then lower-case letters, digits, . _ -',
  'users.created.ok': 'User {user} ({role}) created', 'users.roleChanged': '{user} is now {role}', 'users.disabledOk': '{user} disabled; their logins ended',
  'users.enabledOk': '{user} enabled', 'users.resetOk': "{user}'s password reset; their logins ended",
  'jam.zone': 'Zone', 'jam.state': 'State', 'jam.on': 'on', 'jam.off': 'off', 'jam.unknown': 'unknown', 'jam.override': 'Override', 'jam.reason': 'Reason (required)', 'jam.expiry': 'Expires (min)',
  'robot.tasks': 'Delivery tasks', 'door.title': 'Door', 'users.title': 'Users', 'users.name': 'User', 'users.display': 'Name', 'users.role': 'Role',
  'pub.title': 'Evaluation area, live', 'pub.rooms': 'Rooms', 'pub.inSession': 'in use', 'pub.idle': 'idle', 'pub.inside': '{n} experts inside',
  'pub.jammer': 'Jamming', 'pub.sessions': '{n} sessions running', 'pub.total': '{n} experts inside in all', 'pub.updated': 'updated {time}',
  'err.network': 'Network error: {message}',
  'rtask.id': 'Task', 'rtask.session': 'Session', 'rtask.where': 'To', 'rtask.state': 'State', 'rtask.reason': 'Reason', 'rtask.seat': 'seat {n}', 'rtask.none': 'No delivery tasks',
  'rtask.queued': 'queued', 'rtask.dispatched': 'on its way', 'rtask.at-door': 'at the door', 'rtask.in-area': 'in the area', 'rtask.delivered': 'delivered', 'rtask.returned': 'returned',
  'rtask.failed': 'failed', 'rtask.cancelled': 'cancelled', 'rtask.suspended': 'suspended',
  'demo.fire.title': 'Demo: simulated fire panel', 'demo.fire.alarm': 'Set off a fire alarm', 'demo.fire.clear': 'Clear the fire alarm', 'demo.fire.sent': 'Simulated fire alarm set off', 'demo.fire.cleared': 'Simulated fire alarm cleared',
  'ev.alarm.raised': 'Alarm raised', 'ev.alarm.acknowledged': 'Alarm acknowledged', 'ev.alarm.cleared': 'Alarm cleared',
  'ev.audit.session-sealed': 'Session log sealed', 'ev.broadcast.warning': 'Warning broadcast', 'ev.broadcast.announcement': 'Announcement',
  'ev.broadcast.announcement.missed': 'Announcement missed', 'ev.broadcast.emergency': 'Emergency broadcast', 'ev.broadcast.played': 'Broadcast played',
  'ev.broadcast.preempted': 'Broadcast pre-empted', 'ev.broadcast.call.started': 'Live call started', 'ev.broadcast.call.stopped': 'Live call stopped',
  'ev.broadcast.zone.fault': 'PA zone fault', 'ev.broadcast.zone.fault-cleared': 'PA zone fault cleared', 'ev.checkin.granted': 'Check-in granted',
  'ev.checkin.denied': 'Check-in denied', 'ev.checkin.passed': 'Passed the gate', 'ev.checkin.left': 'Left',
  'ev.checkin.expired': 'Grant expired unused', 'ev.checkin.repeat-refused': 'Repeat check-in refused', 'ev.checkin.request-reused': 'Request id reused',
  'ev.checkin.offline-reconciled': 'Offline record reconciled', 'ev.checkin.offline-duplicate': 'Offline record duplicate', 'ev.checkin.offline-unmatched': 'Offline record unmatched',
  'ev.command.sent': 'Command sent', 'ev.command.finished': 'Command finished', 'ev.command.refused': 'Command refused',
  'ev.command.abandoned': 'Command abandoned', 'ev.device.event': 'Device event', 'ev.device.state': 'Device state',
  'ev.door.decision': 'Door open request', 'ev.door.lock': 'Door lock', 'ev.door.admin-open': 'Door opened by an admin',
  'ev.hub.started': 'Hub started', 'ev.hub.stopped': 'Hub stopped', 'ev.integration.created': 'Integration account created',
  'ev.integration.disabled': 'Integration account disabled', 'ev.integration.rotated': 'Integration token rotated', 'ev.integration.refused': 'Integration access refused',
  'ev.jammer.zone': 'Jammer zone', 'ev.jammer.override': 'Jammer override', 'ev.jammer.interlock': 'Jammer fire interlock',
  'ev.jammer.write-failed': 'Jammer write failed', 'ev.power.state': 'Power state', 'ev.power.stage': 'Power failover stage',
  'ev.power.runtime-short': 'Battery runtime short', 'ev.power.hub-shutdown': 'Hub shutdown', 'ev.robot.task': 'Delivery task',
  'ev.robot.meals': 'Meal times', 'ev.robot.meal.skipped': 'Meal skipped', 'ev.robot.report.rejected': 'Robot report rejected',
  'ev.session.created': 'Session created', 'ev.session.status': 'Session status', 'ev.session.roster': 'Roster',
  'ev.user.created': 'User created', 'ev.user.disabled': 'User disabled', 'ev.user.enabled': 'User enabled',
  'ev.user.password-changed': 'Password changed', 'ev.user.renamed': 'User renamed', 'ev.user.role-changed': 'Role changed',
  'ev.user.tokens-ended': 'Logins ended',
};

const CATALOGUE = { zh, en };
const LANG_KEY = 'facility-hub.lang';
let lang = localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';

export const getLang = () => lang;
export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
}
document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';

export function t(key, params) {
  const text = CATALOGUE[lang][key] ?? zh[key] ?? key;
  return params ? text.replace(/\{(\w+)\}/g, (_m, k) => (params[k] === undefined || params[k] === null ? '' : String(params[k]))) : text;
}

/** A translated code (status, reason…), or the code itself when the catalogue lacks it. */
export function code(prefix, value) {
  if (value === null || value === undefined) return '';
  const key = `${prefix}.${value}`;
  return CATALOGUE[lang][key] ?? zh[key] ?? String(value);
}

// The API writes times as ISO-8601 with the site's offset (e.g. 2026-11-28T09:30:00+08:00):
// the digits are already the site's wall-clock time, whatever zone this PC is set to.
export function dateTime(iso) {
  if (!iso) return '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}
export function timeOnly(iso) {
  return iso ? iso.slice(11, 19) : '';
}
