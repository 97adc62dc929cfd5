/* 银龄助手 hotline operators' console: plain JS, same origin only (docs/console.md). */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = { csrf: null, user: null, meta: null, callId: null, last: null, current: null };
  window.consoleApp = state;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function toast(msg) { $('toast').textContent = msg; clearTimeout(toast.t); toast.t = setTimeout(() => { $('toast').textContent = ''; }, 4000); }

  async function api(path, opts) {
    opts = opts || {};
    const headers = { 'Accept': 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.method && opts.method !== 'GET') headers['X-CSRF-Token'] = state.csrf || '';
    state.busy = (state.busy || 0) + 1;
    try {
      const res = await fetch('api/' + path, { method: opts.method || 'GET', headers, credentials: 'same-origin',
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
      const data = await res.json().catch(() => ({}));
      if (res.status === 401 && path !== 'login' && path !== 'me') { showLogin(); }
      if (!res.ok) { const err = new Error(data.error || res.status); err.status = res.status; err.data = data; throw err; }
      return data;
    } finally { state.busy -= 1; }
  }

  // --- login ---
  function showLogin() {
    $('login').hidden = false; $('tabs').hidden = true; $('who').hidden = true;
    document.querySelectorAll('.tab').forEach((t) => { t.hidden = true; });
  }
  async function loggedIn(data) {
    state.csrf = data.csrf; state.user = data.user;
    $('login').hidden = true; $('tabs').hidden = false; $('who').hidden = false; $('who-name').textContent = data.user;
    if (!state.meta) { state.meta = await api('meta'); fillMeta(); }
    showTab('assist');
    refreshHandoffs().catch(() => {});
  }
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault(); $('login-error').textContent = '';
    try {
      await loggedIn(await api('login', { method: 'POST', body: { username: $('username').value, password: $('password').value } }));
      $('password').value = '';
    } catch (e) {
      $('login-error').textContent = e.status === 429 ? `尝试次数过多，请 ${e.data.retry_after} 秒后再试` : '用户名或密码不对';
    }
  });
  $('logout-btn').addEventListener('click', async () => { await api('logout', { method: 'POST', body: {} }).catch(() => {}); state.csrf = null; showLogin(); });

  function option(select, value, label) { select.append(el('option', { value, text: label })); }
  function fillMeta() {
    const m = state.meta;
    for (const id of ['u-category', 's-category']) for (const [k, v] of Object.entries(m.categories)) option($(id), k, v);
    for (const id of ['u-topic', 'p-topic']) for (const [k, v] of Object.entries(m.topics)) option($(id), k, v);
    for (const id of ['u-item', 's-item']) for (const k of m.items) option($(id), k, k);
    for (const level of ['city', 'district']) for (const r of (m.regions[level] || [])) $('region-names').append(el('option', { value: r.name, text: `${r.city || ''}${level === 'district' ? r.name : ''}` }));
  }

  // --- tabs ---
  function showTab(name) {
    document.querySelectorAll('.tab').forEach((t) => { t.hidden = t.id !== name; });
    document.querySelectorAll('#tabs button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tab === name)));
    if (name === 'handoffs') refreshHandoffs();
    if (name === 'corrections') loadCorrections();
  }
  $('tabs').addEventListener('click', (ev) => { const b = ev.target.closest('button[data-tab]'); if (b) showTab(b.dataset.tab); });

  // --- cards ---
  function smsBox(sms) {
    if (!sms) return null;
    const box = el('div', { class: 'sms' }, el('strong', { text: '短信：' }));
    sms.segments.forEach((s, i) => box.append(el('span', { class: 'seg', text: s },
      el('span', { class: 'len', text: `（${sms.segments.length > 1 ? `第${i + 1}条，` : ''}${[...s].length}字）` }))));
    const copy = el('button', { type: 'button', class: 'secondary copy-sms', text: '复制短信' });
    copy.addEventListener('click', async () => {
      try { await navigator.clipboard.writeText(sms.segments.join('\n')); toast('短信已复制'); } catch (e) { toast('请手动选中复制'); }
    });
    box.append(copy);
    return box;
  }
  function serviceCard(p, i) {
    const title = el('h3', { class: 'card-title', text: `${i + 1}. ${p.name}` },
      p.status === 'planned' ? el('span', { class: 'badge badge-planned', text: '规划建设中' })
        : p.verified ? el('span', { class: 'badge badge-ok', text: '已核实' }) : el('span', { class: 'badge badge-demo', text: '示例数据' }));
    const c = el('div', { class: 'card service', 'data-id': p.id || '' }, title,
      el('div', { class: 'district', text: `${p.city || ''}${p.district || ''}` }),
      el('div', { class: 'address', text: `地址：${p.address || ''}` }),
      el('div', { class: 'phone', text: `电话：${p.phone || ''}` }),
      p.hours ? el('div', { text: `时间：${p.hours}` }) : null,
      p.price ? el('div', { text: `价格：${p.price}` }) : null,
      p.distance_km != null ? el('div', { class: 'distance', text: `距离约 ${p.distance_km} 公里` + (p.approximate ? '（估算：按区县中心）' : (p.status !== 'planned' && !p.verified) ? '（示例坐标）' : '') }) : null,
      (p.items && p.items.length) ? el('div', { text: '可租：' + p.items.map((x) => x.name).join('、') }) : null,
      smsBox(p.sms));
    return c;
  }
  function contextBox(ctx) {
    if (!ctx) return null;
    const d = el('details', { class: 'ctx' }, el('summary', { text: '原文上下文（' + ctx.file + '）' }));
    d.append(el('div', { class: 'context' }, ctx.before, el('mark', { text: ctx.quote }), ctx.after));
    return d;
  }
  // Status and level of a record (catalog/data/policies/README.md); the bot's texts say the same in templates.yml.
  const STATUS_LABELS = { in_effect: '现行', draft: '征求意见稿', ended: '规划期已结束', planned: '规划目标' };
  const LEVEL_LABELS = { district: '本区县', city: '本市', province: '省级' };
  function policyCard(p) {
    const s = p.source || {};
    const list = (title, xs, cls) => (xs && xs.length) ? el('div', {}, el('h4', { text: title }),
      el(cls === 'steps' ? 'ol' : 'ul', { class: cls }, ...xs.map((x) => el('li', { text: x })))) : null;
    const region = p.region || {};
    return el('div', { class: 'card policy', 'data-id': p.id || '' },
      el('h3', { class: 'card-title', text: p.title },
        p.status ? el('span', { class: `badge badge-${p.status}`, text: STATUS_LABELS[p.status] || p.status }) : null,
        p.draft && p.status !== 'draft' ? el('span', { class: 'badge badge-draft', text: STATUS_LABELS.draft }) : null),
      el('div', { class: 'muted', text: (LEVEL_LABELS[p.level] ? LEVEL_LABELS[p.level] + '·' : '') + [region.province, region.city, region.district].filter(Boolean).join('') }),
      p.status === 'ended' ? el('div', { class: 'status-note', text: `规划期已于 ${p.end_date || ''} 结束，以下是当时提出的内容；现行规定请拨打 12345 咨询。` }) : null,
      el('p', { class: 'summary', text: p.summary || '' }),
      list('申请条件', p.eligibility, 'eligibility'), list('办理步骤', p.steps, 'steps'), list('所需材料', p.materials, 'materials'),
      p.where ? el('div', { text: `办理地点：${p.where}` }) : null,
      p.phone ? el('div', { class: 'phone', text: `咨询电话：${p.phone}` }) : null,
      (p.guidance && p.guidance.length) ? el('div', { class: 'muted', text: '注：' + p.guidance.join('、') + ' 为一般办理路径，非文件原文' }) : null,
      el('div', { class: 'source' },
        el('div', { class: 'doc', text: `依据：《${s.document || ''}》 ${s.issuer || ''} ${s.date || ''}` }),
        el('div', { class: 'clause', text: `条款：${s.clause || ''}` }),
        el('div', { class: 'quote', text: `原文：“${s.quote || ''}”` }),
        contextBox(p.context)),
      smsBox(p.sms));
  }
  function renderCards(target, items, policies) {
    const box = $(target); box.replaceChildren();
    (items || []).forEach((p, i) => box.append(serviceCard(p, i)));
    (policies || []).forEach((p) => box.append(policyCard(p)));
    if (!box.children.length) box.append(el('p', { class: 'muted', text: '没有找到结果。' }));
  }

  // --- assist a call ---
  function setUnderstanding(u) {
    $('understanding').hidden = false;
    $('u-task').value = u.task || 'out_of_scope';
    $('u-category').value = u.category || ''; $('u-topic').value = u.topic || '';
    $('u-district').value = u.district || u.city || ''; $('u-item').value = u.item || '';
    const conf = u.confidence != null ? `${Math.round(u.confidence * 100)}%` : '—';
    $('u-intent').textContent = ` 意图 ${u.intent || '—'}，置信度 ${conf}`;
  }
  $('assist-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('call-text').value.trim(); if (!text) return;
    $('assist-btn').disabled = true;
    try {
      const r = await api('assist', { method: 'POST', body: { text, call_id: state.callId } });
      state.callId = r.call_id; state.last = r; $('call-id').textContent = r.call_id;
      $('bot-text').textContent = r.texts.join('\n');
      setUnderstanding(r.understanding);
      renderCards('cards', r.items, r.policies);
    } catch (e) { toast('查询失败：' + e.message); } finally { $('assist-btn').disabled = false; }
  });
  $('new-call').addEventListener('click', () => {
    state.callId = null; state.last = null; $('call-id').textContent = '（新）'; $('call-text').value = '';
    $('bot-text').textContent = ''; $('understanding').hidden = true; $('cards').replaceChildren(); $('call-text').focus();
  });
  function corrected() {
    return { task: $('u-task').value, category: $('u-category').value, topic: $('u-topic').value,
      district: $('u-district').value.trim(), item: $('u-item').value };
  }
  $('requery-btn').addEventListener('click', async () => {
    try {
      const r = await api('requery', { method: 'POST', body: corrected() });
      if (r.error) toast(r.error);
      renderCards('cards', r.items, r.policies); $('bot-text').textContent = '（已按更正直接查询目录）';
    } catch (e) { toast('查询失败：' + e.message); }
  });
  $('mark-wrong').addEventListener('click', async () => {
    if (!state.last) return;
    try {
      const r = await api('corrections', { method: 'POST', body: { text: state.last.text, bot: state.last.understanding, correct: corrected() } });
      toast(`已记录纠错 #${r.id}`);
    } catch (e) { toast('记录失败：' + e.message); }
  });

  // --- catalog search and policies ---
  $('search-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ category: $('s-category').value, district: $('s-district').value.trim(), item: $('s-item').value,
      q: $('s-q').value.trim(), near: $('s-near').value.trim(), sort: $('s-sort').value });
    const r = await api('services?' + q);
    $('search-summary').textContent = r.error || `共 ${r.total} 个${r.near ? `，按距离“${r.near.label}”` : ''}（最多显示 50 个）`;
    renderCards('search-results', r.items, []);
  });
  $('policy-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await api('policies?' + new URLSearchParams({ topic: $('p-topic').value, region: $('p-region').value.trim() }));
    const box = $('p-results'); box.replaceChildren();
    for (const p of r.policies) {
      const card = policyCard(p);
      const more = el('button', { type: 'button', class: 'secondary show-source', text: '看原文上下文' });
      more.addEventListener('click', async () => {
        const full = await api('policies/' + encodeURIComponent(p.id));
        const c = policyCard(full); card.replaceWith(c); const d = c.querySelector('details'); if (d) d.open = true;
      });
      card.append(more); box.append(card);
    }
    if (!r.policies.length) box.append(el('p', { class: 'muted', text: '没有找到政策。' }));
  });

  // --- handed-over conversations ---
  const time = (ts) => ts ? new Date(ts * 1000).toLocaleString('zh-CN', { hour12: false }) : '';
  async function refreshHandoffs() {
    const r = await api('handoffs');
    $('handoff-count').textContent = r.conversations.length ? `(${r.conversations.length})` : '';
    const body = $('handoff-list'); body.replaceChildren();
    for (const c of r.conversations) {
      const tr = el('tr', { class: 'handoff', 'data-sender': c.sender_id },
        el('td', { text: c.sender_id }), el('td', { text: c.channel || '' }), el('td', { text: time(c.handoff_at) }),
        el('td', { text: c.last_user_text }), el('td', { class: 'holder', text: c.claimed_by || '待接手' }));
      tr.addEventListener('click', () => openConversation(c.sender_id));
      body.append(tr);
    }
    if (!r.conversations.length) body.append(el('tr', {}, el('td', { colSpan: 5, class: 'muted', text: '没有待处理的转人工对话。' })));
    return r;
  }
  $('handoff-refresh').addEventListener('click', refreshHandoffs);
  function renderTranscript(list) {
    $('transcript').replaceChildren(...list.map((t) => el('li', { class: t.who },
      el('strong', { text: { user: '用户', bot: '机器人', operator: '话务员' + (t.operator ? `（${t.operator}）` : '') }[t.who] + '：' }),
      t.text, el('span', { class: 'muted', text: '  ' + time(t.at) }))));
  }
  async function openConversation(sender) {
    const r = await api('handoffs/' + encodeURIComponent(sender));
    state.current = sender;
    document.querySelectorAll('tr.handoff').forEach((tr) => tr.classList.toggle('selected', tr.dataset.sender === sender));
    $('handoff-detail').hidden = false; $('h-sender').textContent = sender; $('h-channel').textContent = r.channel || '';
    setHolder(r.claimed_by);
    renderTranscript(r.transcript);
  }
  function setHolder(holder) {
    const mine = holder === state.user;
    $('handoff-status').textContent = holder ? (mine ? '由您处理中' : `已由 ${holder} 接手`) : '待接手';
    $('claim-btn').disabled = !!holder; $('resolve-btn').disabled = !mine; $('answer-btn').disabled = !mine;
  }
  $('claim-btn').addEventListener('click', async () => {
    try { const r = await api(`handoffs/${encodeURIComponent(state.current)}/claim`, { method: 'POST', body: {} }); setHolder(r.claimed_by); toast('已接手'); refreshHandoffs(); }
    catch (e) { toast(e.status === 409 ? `已被 ${e.data.claimed_by} 接手` : '接手失败'); }
  });
  $('reveal-btn').addEventListener('click', async () => {
    const r = await api(`handoffs/${encodeURIComponent(state.current)}/reveal`, { method: 'POST', body: {} });
    renderTranscript(r.transcript); toast('已显示完整号码（已记入审计日志）');
  });
  $('answer-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('answer-text').value.trim(); if (!text) return;
    try {
      const r = await api(`handoffs/${encodeURIComponent(state.current)}/answer`, { method: 'POST', body: { text } });
      $('answer-text').value = ''; toast(r.delivered === 'wechat' ? '已通过微信客服消息发送' : '已记录回复');
      openConversation(state.current);
    } catch (e) { toast('发送失败：' + e.message); }
  });
  $('resolve-btn').addEventListener('click', async () => {
    try {
      await api(`handoffs/${encodeURIComponent(state.current)}/resolve`, { method: 'POST', body: {} });
      toast('已解决，机器人恢复接待'); $('handoff-detail').hidden = true; state.current = null; refreshHandoffs();
    } catch (e) { toast('操作失败：' + e.message); }
  });

  async function loadCorrections() {
    const r = await api('corrections');
    const fmt = (o) => Object.entries(o || {}).filter(([k, v]) => v && k !== 'ranking').map(([k, v]) => `${k}=${v}`).join(' ');
    $('corrections-list').replaceChildren(...r.corrections.map((c) => el('tr', {},
      el('td', { text: String(c.id) }), el('td', { text: c.text }), el('td', { text: fmt(c.bot) }),
      el('td', { text: fmt(c.expect) }), el('td', { text: c.operator }))));
  }

  api('me').then(loggedIn).catch(showLogin);
}());
