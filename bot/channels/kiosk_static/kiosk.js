/* 银龄助手 · 社区服务一体机 (docs/kiosk.md).
 * Touch only: every step offers buttons. Answers are cards built from the bot's contract payload.
 * Privacy: nothing is written to cookies or browser storage; after the idle countdown the page forgets the visitor
 * (screen, speech, conversation id). */
(function () {
  'use strict';

  // ---------- settings: the server's (environment), then the page address's (?region=&lat=&lng=&idle=) ----------
  var server = {};
  try { server = JSON.parse(document.getElementById('kiosk-config').textContent); } catch (e) { server = {}; }
  var params = new URLSearchParams(location.search);

  function num(v) { var x = parseFloat(v); return isFinite(x) ? x : null; }
  function clamp(v, lo, hi, dflt) { var x = num(v); return x === null ? dflt : Math.min(Math.max(x, lo), hi); }

  var place = { region: server.region || null, lat: num(server.lat), lng: num(server.lng) };
  if (params.has('region') || params.has('lat') || params.has('lng')) {
    place = { region: (params.get('region') || '').trim().slice(0, 20) || null,
              lat: num(params.get('lat')), lng: num(params.get('lng')) };
  }
  if (place.lat === null || place.lng === null) { place.lat = null; place.lng = null; }

  var HOTLINE = server.hotline || '12345';
  var cfg = {
    idleMs: clamp(params.get('idle'), 3, 3600, server.idleSeconds || 90) * 1000,
    countdown: Math.round(clamp(params.get('countdown'), 3, 120, server.countdownSeconds || 20)),
    timeoutMs: clamp(params.get('timeout'), 1000, 120000, server.timeoutMs || 23000),
    serverSpeech: server.serverSpeech !== false
  };

  var POLICY_MENU = [
    ['高龄津贴', '/policy_high_age_allowance'],
    ['长护险', '/policy_ltc_insurance'],
    ['养老服务补贴', '/policy_care_subsidy'],
    ['家庭养老床位', '/policy_family_care_bed'],
    ['适老化改造', '/policy_home_adaptation'],
    ['喘息服务', '/policy_respite_care'],
    ['公办养老院入住', '/policy_care_home_admission'],
    ['特困供养', '/policy_special_hardship'],
    ['家庭医生签约', '/policy_family_doctor'],
    ['我家老人能享受什么', '/eligibility']
  ];
  var CARE_MENU = [['日间照料', '/find_day_care'], ['养老院', '/find_care_home']];
  var MENUS = {
    policy: { title: '补贴政策怎么申请', head: '想了解哪项补贴政策？请点一下：', items: POLICY_MENU },
    care: { title: '日间照料/养老院', head: '想找哪一种？请点一下：', items: CARE_MENU }
  };
  // The bot asks some things without buttons; the page offers them so nobody has to type.
  var ASK_BUTTONS = {
    age: ['60岁', '65岁', '70岁', '75岁', '80岁', '85岁', '90岁', '100岁']
  };
  // Status and level of a record (catalog/data/policies/README.md); the bot's texts say the same in templates.yml.
  var STATUS_LABELS = { in_effect: '现行文件', draft: '征求意见稿', ended: '规划期已结束', planned: '规划目标' };
  var LEVEL_LABELS = { district: '本区县', city: '本市', province: '省级' };
  var PLANNED_NOTE = '这是规划文件里的建设项目，不是已确认开放的机构，是否建成请先电话核实。';
  var GUIDANCE_NOTE = '标有“一般办理路径”的内容不是文件原文：文件未作具体规定，请以当地经办窗口为准。';
  var FIELD_NAMES = { steps: '办理步骤', materials: '所需材料', where: '办理地点', phone: '咨询电话' };
  var QR_BYTES = 900;  // keeps the code coarse enough for an old phone's camera

  var els = {
    body: document.body,
    main: document.getElementById('main'),
    home: document.getElementById('home'),
    chat: document.getElementById('chat'),
    turns: document.getElementById('turns'),
    form: document.getElementById('ask'),
    input: document.getElementById('ask-input'),
    where: document.getElementById('where'),
    idle: document.getElementById('idle'),
    idleSeconds: document.getElementById('idle-seconds'),
    moreBelow: document.getElementById('more-below'),
    voice: document.getElementById('voice')
  };

  // ---------- state: all of it is dropped by reset() ----------
  var state;
  function freshState() {
    return {
      sender: newSender(), busy: false, lastSend: { text: '', at: 0 }, generation: (state ? state.generation : 0) + 1,
      controller: null, audioUrl: null, lastActivity: Date.now(), countdownLeft: 0, countdownTimer: null
    };
  }
  function newSender() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return 'kiosk-' + Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  state = freshState();

  // ---------- small DOM helpers ----------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') node.textContent = v;
      else if (k === 'className') node.className = v;
      else node.setAttribute(k, v === true ? '' : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function button(label, attrs) { return el('button', Object.assign({ type: 'button', text: label }, attrs || {})); }
  function add(parent, node) { if (node) parent.appendChild(node); }
  function present(v) { return v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && !v.length); }

  // ---------- views ----------
  function showHome() {
    els.chat.hidden = true;
    els.home.hidden = false;
    els.main.scrollTop = 0;
  }
  function showChat() {
    els.home.hidden = true;
    els.chat.hidden = false;
  }
  function scrollToTurn(turn) {
    // The start of the newest answer stays in view: a person reads from the top.
    var top = turn.getBoundingClientRect().top - els.main.getBoundingClientRect().top;
    els.main.scrollTop = Math.max(0, els.main.scrollTop + top - 16);
  }

  // "下面还有内容" under the answers while they go on below the screen.
  function showMoreBelow() {
    var m = els.main;
    els.moreBelow.classList.toggle('on', m.scrollTop + m.clientHeight < m.scrollHeight - 4);
  }

  function setSize(size) {
    els.body.classList.toggle('size-xlarge', size === 'xlarge');
    els.body.classList.toggle('size-large', size !== 'xlarge');
    document.querySelectorAll('.size-btn').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-size') === size));
    });
  }

  function showPlace() {
    if (place.region) {
      els.where.textContent = '本机位置：' + place.region;
      els.where.hidden = false;
    } else {
      els.where.hidden = true;
      els.where.textContent = '';
    }
  }

  // ---------- turns ----------
  function newTurn(label) {
    showChat();
    var you = el('p', { className: 'you' }, [el('span', { className: 'visually-hidden', text: '您点了：' }), label]);
    var turn = el('li', { className: 'turn' }, [you]);
    els.turns.appendChild(turn);
    return turn;
  }
  function dropOldQuickReplies() {
    // Only the newest answer keeps its quick replies: old choices cannot be tapped by mistake.
    els.turns.querySelectorAll('.quick').forEach(function (q) { q.remove(); });
  }

  function openMenu(name) {
    var menu = MENUS[name];
    dropOldQuickReplies();
    var turn = newTurn(menu.title);
    var row = el('div', { className: 'row' });
    menu.items.forEach(function (it) { row.appendChild(button(it[0], { className: 'menu-btn', 'data-send': it[1] })); });
    var answer = el('div', { className: 'answer' }, [
      el('div', { className: 'answer-text' }, [el('p', { text: menu.head })]),
      el('div', { className: 'quick' }, [row])
    ]);
    turn.appendChild(answer);
    scrollToTurn(turn);
  }

  function send(text, label, turn) {
    text = (text || '').trim();
    if (!text) return;
    var now = Date.now();
    // No double send: one question at a time, and the same tap twice within 1.5 s counts once.
    if (state.busy) return;
    if (!turn && text === state.lastSend.text && now - state.lastSend.at < 1500) return;
    state.lastSend = { text: text, at: now };
    state.busy = true;
    els.body.classList.add('busy');
    stopSpeech();
    if (!turn) {
      dropOldQuickReplies();
      turn = newTurn(label || text);
    } else {
      var old = turn.querySelector('.answer');
      if (old) old.remove();
    }
    var waiting = el('p', { className: 'waiting', role: 'status', text: '正在查询，请稍候……' });
    turn.appendChild(waiting);
    scrollToTurn(turn);

    var generation = state.generation;
    var controller = new AbortController();
    state.controller = controller;
    var timer = setTimeout(function () { controller.abort(); }, cfg.timeoutMs);
    var body = { sender: state.sender, message: text };
    if (place.region || place.lat !== null) body.place = place;

    fetch('message', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      signal: controller.signal, cache: 'no-store', credentials: 'omit'
    }).then(function (res) {
      if (res.status === 504) throw new Error('slow');
      if (!res.ok && res.status !== 429) throw new Error('down');  // 429: the guard's "请稍等" answer
      return res.json();
    }).then(function (data) {
      if (generation !== state.generation) return;
      if (!data || !Array.isArray(data.messages) || !data.messages.length) throw new Error('down');
      waiting.remove();
      turn.appendChild(renderAnswer(data.messages, data.speech));
      scrollToTurn(turn);
    }).catch(function (err) {
      if (generation !== state.generation) return;
      waiting.remove();
      var slow = err && (err.name === 'AbortError' || err.message === 'slow');
      turn.appendChild(renderFailure(text, label, turn, slow));
      scrollToTurn(turn);
    }).then(function () {
      clearTimeout(timer);
      if (generation !== state.generation) return;
      state.busy = false;
      state.controller = null;
      els.body.classList.remove('busy');
    });
  }

  function renderFailure(text, label, turn, slow) {
    var words = slow ? '系统回答得太慢了，暂时没有结果。' : '暂时连不上服务，这不是您操作的问题。';
    var lines = [el('p', { text: words }), el('p', { text: '请点“再试一次”。着急的话，请直接拨打政务服务便民热线：' }),
      el('p', { className: 'hotline', text: HOTLINE })];
    if (text === '/emergency') lines.unshift(el('p', { className: 'hotline', text: '情况紧急请立即拨打 120！' }));
    var retry = button('再试一次', { className: 'retry' });
    retry.addEventListener('click', function () { send(text, label, turn); });
    return el('div', { className: 'answer failure', role: 'alert' }, [
      el('div', { className: 'answer-text' }, lines),
      el('div', { className: 'quick' }, [el('div', { className: 'row' }, [retry])])
    ]);
  }

  // ---------- answers ----------
  // `speech`: the server's speakable text of this answer (phone numbers digit by digit, bot/channels/speech.py).
  function renderAnswer(messages, speech) {
    var payload = null;
    var texts = [];
    var buttons = [];
    messages.forEach(function (m) {
      if (m.custom && typeof m.custom === 'object' && !payload) payload = m.custom;
      if (m.text) texts.push(m.text);
      if (Array.isArray(m.buttons)) buttons = buttons.concat(m.buttons);
    });
    payload = payload || {};
    if (Array.isArray(payload.buttons) && payload.buttons.length) buttons = payload.buttons;
    var fullText = payload.text || texts.join('\n');
    var items = Array.isArray(payload.items) ? payload.items : [];
    var policy = payload.policy && typeof payload.policy === 'object' ? payload.policy : null;

    var answer = el('div', { className: 'answer' + (payload.task === 'emergency' ? ' answer-emergency' : '') });
    answer.setAttribute('data-task', payload.task || '');
    var parts = textParts(fullText, items.length > 0, !!policy);
    // 朗读 before the answer's first words: found without scrolling however long the answer is (on the left, away
    // from the size buttons above when the answer scrolls under the header)
    var read = null;
    if (typeof speech === 'string' && speech) {
      read = button('朗读', { className: 'tool-btn read-btn', 'aria-label': '朗读这段回答' });
      read.addEventListener('click', function () { speak(speech); });
    }
    if (parts.lead.length || read) {
      answer.appendChild(el('div', { className: 'answer-head' }, [
        read, parts.lead.length ? el('div', { className: 'answer-text' }, paragraphs(parts.lead)) : null]));
    }
    if (items.length) {
      var list = el('ol', { className: 'cards', 'aria-label': '查询结果' });
      items.forEach(function (item, i) {
        var note = parts.before[i + 1];
        if (note) list.appendChild(el('li', { className: 'list-note answer-text' }, paragraphs(note)));
        list.appendChild(el('li', null, [serviceCard(item, i)]));
      });
      answer.appendChild(list);
    }
    if (policy) answer.appendChild(el('div', { className: 'cards' }, [policyCard(policy)]));
    if (parts.after.length) answer.appendChild(moreText(parts.after));

    var quick = buttons.map(function (b) { return button(b.title, { 'data-send': b.payload || b.title }); });
    if (payload.ask === 'region' && place.region) {
      // Asked where the older person lives: the kiosk's own district is the likeliest answer.
      quick.unshift(button(place.region, { 'data-send': '/inform' + JSON.stringify({ region: place.region }) }));
    }
    if (!quick.length && ASK_BUTTONS[payload.ask]) {
      quick = ASK_BUTTONS[payload.ask].map(function (t) { return button(t, { 'data-send': t }); });
    }
    if (quick.length) {
      answer.appendChild(el('div', { className: 'quick' }, [
        el('p', { className: 'quick-title', text: '请点一下：' }), el('div', { className: 'row' }, quick)]));
    }
    return answer;
  }

  // The bot's text repeats every card field; the page shows only its own sentences, each where it belongs: those
  // before the first card above the cards, a note that introduces a later card (the planned buildings) right before
  // it, and what follows the list or the policy (further documents, what the documents say) below, so the first
  // card and its phone number are on the first screen.
  function textParts(text, hasItems, hasPolicy) {
    var lines = (text || '').split('\n').filter(function (l) { return l.trim(); });
    var parts = { lead: [], before: {}, after: [] };
    var seen = 0;        // the number of the last card (or 1 once the policy's own block began)
    var inside = false;  // within the policy's own block: 【title】 ... 来源：
    var pending = [];
    lines.forEach(function (l) {
      if (hasPolicy) {
        if (!seen && /^【/.test(l)) { inside = true; seen = 1; return; }
        if (inside) { inside = !/^来源：/.test(l); return; }
        (seen ? parts.after : parts.lead).push(l);
        return;
      }
      if (!hasItems) { parts.lead.push(l); return; }
      var number = /^(\d+)\.\s/.exec(l);
      if (number) {
        seen = Number(number[1]);
        if (pending.length) { parts.before[seen] = pending; pending = []; }
        return;
      }
      if (/^\s/.test(l) || /^第\d+个/.test(l) || l.indexOf('回复“第几个”') >= 0) return;
      if (seen) pending.push(l); else parts.lead.push(l);
    });
    parts.after = parts.after.concat(pending);
    return parts;
  }
  function paragraphs(lines) { return lines.map(function (l) { return el('p', { text: l }); }); }
  // Below the cards, in body size: a heading line ends with "：", an entry starts with "·" or "2."; its source
  // (indented in the bot's text) is set in under it.
  function moreText(lines) {
    return el('div', { className: 'more-text' }, lines.map(function (l) {
      var kind = /^\s/.test(l) ? 'more-source' : /：$/.test(l) ? 'more-head' : 'more-entry';
      return el('p', { className: kind, text: l.trim() });
    }));
  }

  function distanceKm(item) {
    if (present(item.distance_km)) return Number(item.distance_km);
    if (place.lat === null || !present(item.lat) || !present(item.lng)) return null;
    var R = 6371.0088, rad = Math.PI / 180;
    var dLat = (item.lat - place.lat) * rad, dLng = (item.lng - place.lng) * rad;
    var a = Math.pow(Math.sin(dLat / 2), 2) +
      Math.cos(place.lat * rad) * Math.cos(item.lat * rad) * Math.pow(Math.sin(dLng / 2), 2);
    return 2 * R * Math.asin(Math.sqrt(a));
  }
  function fullAddress(item) {
    var a = item.address || '';
    return present(item.district) && a.indexOf(item.district) < 0 ? item.district + ' ' + a : a;
  }
  function fmtKm(km) { return km < 1 ? Math.round(km * 1000) + ' 米' : (Math.round(km * 10) / 10) + ' 公里'; }
  function money(v) { return present(v) ? v + ' 元' : '—'; }

  function field(label, value, className) {
    if (!present(value)) return null;
    return el('p', { className: className || null }, [el('span', { className: 'label', text: label + '：' }), String(value)]);
  }

  function serviceCard(item, index) {
    var n = index + 1;
    var card = el('article', { className: 'card service', 'data-index': String(index),
                               'data-id': item.id || '', 'aria-labelledby': 'card-' + state.generation + '-' + uid() });
    var titleId = card.getAttribute('aria-labelledby');
    var planned = item.status === 'planned';
    var demo = !planned && item.verified !== true;
    card.appendChild(el('h3', { className: 'card-title', id: titleId, text: n + '. ' + (item.name || '') }));
    card.appendChild(el('div', { className: 'badges' }, [planned
      ? el('span', { className: 'badge badge-planned', text: '规划建设中' })
      : demo ? el('span', { className: 'badge badge-demo', text: '示例数据' })
        : el('span', { className: 'badge badge-ok', text: '已核实' })]));
    if (planned) card.appendChild(el('p', { className: 'demo-note', text: PLANNED_NOTE }));
    if (demo) card.appendChild(el('p', { className: 'demo-note', text: '这是演示用的示例数据，不是真实机构，请以电话核实为准。' }));
    add(card, field('电话', item.phone, 'phone'));
    add(card, field('地址', fullAddress(item)));
    var km = distanceKm(item);
    if (km !== null) card.appendChild(el('p', { className: 'distance', text: '离这台机器约 ' + fmtKm(km) +
      (item.approximate === true ? '（估算：没有准确坐标，按区县中心估算）'
        : demo ? '（示例坐标，不是真实位置）' : '') }));

    var detail = el('div', { className: 'detail', hidden: true });
    add(detail, field('时间', item.hours));
    add(detail, field('价格', item.price));
    if (Array.isArray(item.items) && item.items.length) detail.appendChild(rentalTable(item.items));
    add(detail, field('信息来源', demo ? '示例数据' : item.source));
    var qrBox = el('figure', { className: 'qr', hidden: true });
    detail.appendChild(qrBox);
    var print = button('打印这一条', { className: 'tool-btn print-btn' });
    print.addEventListener('click', function () { showQr(qrBox, serviceText(item)); printCard(card); });
    detail.appendChild(el('div', { className: 'row' }, [print]));
    card.appendChild(detail);

    var more = button('看详情和二维码', { className: 'tool-btn more-btn', 'aria-expanded': 'false' });
    more.addEventListener('click', function () {
      var open = detail.hidden;
      detail.hidden = !open;
      more.setAttribute('aria-expanded', String(open));
      more.textContent = open ? '收起详情' : '看详情和二维码';
      if (open) {
        showQr(qrBox, serviceText(item));
        scrollToTurn(card);
      }
    });
    card.appendChild(el('div', { className: 'row' }, [more]));
    return card;
  }

  var uidCounter = 0;
  function uid() { uidCounter += 1; return uidCounter; }

  function rentalTable(rows) {
    var head = el('tr', null, ['辅具', '日租', '月租', '押金'].map(function (h) { return el('th', { scope: 'col', text: h }); }));
    var body = rows.map(function (r) {
      return el('tr', null, [el('td', { text: r.name || '' }), el('td', { text: money(r.price_day) }),
        el('td', { text: money(r.price_month) }), el('td', { text: money(r.deposit) })]);
    });
    return el('table', { className: 'rental' }, [el('caption', { className: 'visually-hidden', text: '可租辅具和价格' }),
      el('thead', null, [head]), el('tbody', null, body)]);
  }

  function policyCard(p) {
    var guided = Array.isArray(p.guidance) ? p.guidance : [];
    var card = el('article', { className: 'card policy', 'data-id': p.id || '' });
    card.appendChild(el('h3', { className: 'card-title', text: '【' + (p.title || '') + '】' }));
    var badges = [];
    if (LEVEL_LABELS[p.level]) badges.push(el('span', { className: 'badge badge-level', text: LEVEL_LABELS[p.level] }));
    if (STATUS_LABELS[p.status]) badges.push(el('span', { className: 'badge badge-status badge-' + p.status, text: STATUS_LABELS[p.status] }));
    if (p.draft === true && p.status !== 'draft') badges.push(el('span', { className: 'badge badge-status badge-draft', text: STATUS_LABELS.draft }));
    if (badges.length) card.appendChild(el('div', { className: 'badges' }, badges));
    if (p.status === 'ended') card.appendChild(el('p', { className: 'status-note', text: '这份规划的期限已于 ' + (p.end_date || '') + ' 结束，以下是当时提出的内容；现在的规定请拨打 ' + HOTLINE + ' 咨询。' }));
    if (present(p.summary)) card.appendChild(el('p', { className: 'summary', text: p.summary }));
    var anyGuided = false;
    function section(name, title, node) {
      if (!node) return;
      var isGuided = guided.indexOf(name) >= 0;
      anyGuided = anyGuided || isGuided;
      card.appendChild(el('h4', null, [title, isGuided ? el('span', { className: 'badge badge-guidance', text: '一般办理路径' }) : null]));
      card.appendChild(node);
    }
    function list(tag, values, className) {
      if (!present(values)) return null;
      return el(tag, { className: className || null }, values.map(function (v) { return el('li', { text: v }); }));
    }
    section('eligibility', '适用对象', list('ul', p.eligibility, 'eligibility'));
    section('steps', '办理步骤', list('ol', p.steps, 'steps'));
    section('materials', '所需材料（可逐项打勾）', list('ul', p.materials, 'checklist'));
    section('where', '办理地点', present(p.where) ? el('p', { className: 'where-text', text: p.where }) : null);
    section('phone', '咨询电话', present(p.phone) ? el('p', { className: 'phone', text: p.phone }) : null);
    if (anyGuided) card.appendChild(el('p', { className: 'guidance-note', text: GUIDANCE_NOTE }));
    var src = p.source || {};
    var source = el('div', { className: 'source' }, [
      el('p', null, [el('span', { className: 'label', text: '政策依据：' }),
        '《' + (src.document || '') + '》' + [src.issuer, src.date].filter(present).join('，')]),
      field('条款', src.clause, 'clause'),
      present(src.quote) ? el('blockquote', { text: '原文：“' + src.quote + '”' }) : null
    ]);
    card.appendChild(source);
    var qrBox = el('figure', { className: 'qr', hidden: true });
    var qrBtn = button('扫码带走', { className: 'tool-btn qr-btn', 'aria-expanded': 'false' });
    qrBtn.addEventListener('click', function () {
      var open = qrBox.hidden;
      if (open) { showQr(qrBox, policyText(p)); qrBox.scrollIntoView({ block: 'nearest' }); } else qrBox.hidden = true;
      qrBtn.setAttribute('aria-expanded', String(open));
    });
    var print = button('打印', { className: 'tool-btn print-btn' });
    print.addEventListener('click', function () { showQr(qrBox, policyText(p)); printCard(card); });
    card.appendChild(el('div', { className: 'row' }, [qrBtn, print]));
    card.appendChild(qrBox);
    return card;
  }

  // ---------- take it home: QR code and print ----------
  function serviceText(item) {
    return [item.name + (item.status === 'planned' ? '（规划建设中，请电话核实是否建成）' : item.verified === true ? '' : '（示例数据，请电话核实）'),
      present(item.address) ? '地址：' + fullAddress(item) : '',
      present(item.phone) ? '电话：' + item.phone : '',
      present(item.hours) ? '时间：' + item.hours : '',
      present(item.price) ? '价格：' + item.price : '',
      '——银龄助手'].filter(present).join('\n');
  }
  function policyText(p) {
    var src = p.source || {};
    var parts = ['【' + p.title + '】' + (STATUS_LABELS[p.status] ? '（' + STATUS_LABELS[p.status] + '）' : '')];
    if (present(p.steps)) parts.push('办理步骤：\n' + p.steps.map(function (s, i) { return (i + 1) + '. ' + s; }).join('\n'));
    if (present(p.materials)) parts.push('所需材料：' + p.materials.join('；'));
    if (present(p.where)) parts.push('办理地点：' + p.where);
    parts.push('咨询电话：' + (p.phone || HOTLINE));
    parts.push('依据：《' + (src.document || '') + '》' + (src.clause || ''));
    return fitBytes(parts.join('\n'), QR_BYTES);
  }
  function utf8Length(s) { return new TextEncoder().encode(s).length; }
  function fitBytes(text, limit) {
    if (utf8Length(text) <= limit) return text;
    var tail = '……（详见打印件或拨打' + HOTLINE + '）';
    var chars = Array.from(text);
    while (chars.length && utf8Length(chars.join('') + tail) > limit) chars.pop();
    return chars.join('') + tail;
  }

  function showQr(box, text) {
    if (!box.hidden && box.getAttribute('data-text') === text) return;
    box.replaceChildren();
    if (typeof window.qrcode !== 'function') return;
    window.qrcode.stringToBytes = window.qrcode.stringToBytesFuncs['UTF-8'];
    var qr = window.qrcode(0, 'M');
    qr.addData(text, 'Byte');
    qr.make();
    var modules = qr.getModuleCount();
    var cell = Math.max(3, Math.floor(360 / (modules + 8)));
    var img = el('img', { src: qr.createDataURL(cell, cell * 4), alt: '二维码，内容：' + text.split('\n')[0],
                          width: '360', height: '360', className: 'qr-img' });
    box.appendChild(img);
    box.appendChild(el('figcaption', { text: '用手机扫一扫，把这条信息带回家（不用联网也能看）。' }));
    box.setAttribute('data-text', text);
    box.hidden = false;
  }

  function printCard(card) {
    var turn = card.closest('.turn');
    card.classList.add('print-target');
    if (turn) turn.classList.add('has-print-target');
    els.body.classList.add('printing-one');
    var done = function () {
      card.classList.remove('print-target');
      if (turn) turn.classList.remove('has-print-target');
      els.body.classList.remove('printing-one');
      window.removeEventListener('afterprint', done);
    };
    window.addEventListener('afterprint', done);
    window.print();
  }

  // ---------- read aloud ----------
  function chineseVoice() {
    if (!('speechSynthesis' in window)) return null;
    var voices = window.speechSynthesis.getVoices() || [];
    var zh = voices.filter(function (v) { return /^(zh|cmn)/i.test(v.lang || ''); });
    return zh.filter(function (v) { return /CN|Hans/i.test(v.lang); })[0] || zh[0] || null;
  }
  function speak(words) {
    stopSpeech();
    if (!words) return;
    var voice = chineseVoice();
    if (voice) {
      var u = new SpeechSynthesisUtterance(words);
      u.voice = voice;
      u.lang = voice.lang;
      u.rate = 0.85;
      els.body.setAttribute('data-speech', 'browser');
      window.speechSynthesis.speak(u);
      return;
    }
    if (!cfg.serverSpeech) return;
    els.body.setAttribute('data-speech', 'server');
    var generation = state.generation;
    fetch('speech?text=' + encodeURIComponent(words), { cache: 'no-store', credentials: 'omit' })
      .then(function (res) { if (!res.ok) throw new Error('speech'); return res.blob(); })
      .then(function (blob) {
        if (generation !== state.generation) return;
        state.audioUrl = URL.createObjectURL(blob);
        els.voice.src = state.audioUrl;
        return els.voice.play();
      })
      .catch(function () { /* nothing to say out loud: the text stays on screen */ });
  }
  function stopSpeech() {
    if ('speechSynthesis' in window) window.speechSynthesis.cancel();
    els.voice.pause();
    els.voice.removeAttribute('src');
    els.voice.load();
    if (state.audioUrl) { URL.revokeObjectURL(state.audioUrl); state.audioUrl = null; }
  }

  // ---------- idle reset ----------
  function touched() {
    state.lastActivity = Date.now();
    if (!els.idle.hidden) hideCountdown();
  }
  function showCountdown() {
    state.countdownLeft = cfg.countdown;
    els.idleSeconds.textContent = String(state.countdownLeft);
    els.idle.hidden = false;
    document.getElementById('idle-continue').focus();
    state.countdownTimer = setInterval(function () {
      state.countdownLeft -= 1;
      els.idleSeconds.textContent = String(Math.max(0, state.countdownLeft));
      if (state.countdownLeft <= 0) reset();
    }, 1000);
  }
  function hideCountdown() {
    clearInterval(state.countdownTimer);
    state.countdownTimer = null;
    els.idle.hidden = true;
  }
  function reset() {
    hideCountdown();
    stopSpeech();
    if (state.controller) state.controller.abort();
    state = freshState();                      // new conversation id; a late answer of the old one is dropped
    els.turns.replaceChildren();
    els.input.value = '';
    els.body.classList.remove('busy', 'printing-one');
    els.body.removeAttribute('data-speech');
    setSize('large');
    showHome();
    try { window.localStorage.clear(); window.sessionStorage.clear(); } catch (e) { /* none used */ }
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    els.body.setAttribute('data-reset', String(Number(els.body.getAttribute('data-reset') || 0) + 1));
  }
  setInterval(function () {
    if (!els.idle.hidden) return;
    var homeClean = els.turns.children.length === 0 && els.input.value === '' &&
      !els.body.classList.contains('size-xlarge');
    if (homeClean) { state.lastActivity = Date.now(); return; }
    if (Date.now() - state.lastActivity >= cfg.idleMs) showCountdown();
  }, 500);
  ['pointerdown', 'touchstart', 'keydown', 'input', 'wheel'].forEach(function (type) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  });
  els.main.addEventListener('scroll', function () { state.lastActivity = Date.now(); showMoreBelow(); },
                            { passive: true });
  if ('ResizeObserver' in window) {  // answers arriving, details opening, the text size changing
    var resized = new ResizeObserver(showMoreBelow);
    [els.main, els.home, els.chat].forEach(function (node) { resized.observe(node); });
  }

  // ---------- wiring ----------
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest('button');
    if (!b) return;
    if (b.hasAttribute('data-send')) send(b.getAttribute('data-send'), b.getAttribute('data-label') || b.textContent);
    else if (b.hasAttribute('data-menu')) openMenu(b.getAttribute('data-menu'));
    else if (b.hasAttribute('data-size')) setSize(b.getAttribute('data-size'));
  });
  document.getElementById('home-btn').addEventListener('click', function () { stopSpeech(); showHome(); });
  document.getElementById('idle-continue').addEventListener('click', touched);
  els.form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = els.input.value.trim();
    if (!text || state.busy) return;
    els.input.value = '';
    els.input.blur();
    send(text, text);
  });
  if ('speechSynthesis' in window) window.speechSynthesis.getVoices();  // starts loading the voice list

  showPlace();
  showHome();

  // For the browser tests and the people who maintain the kiosk (read only).
  window.kiosk = {
    get sender() { return state.sender; },
    get busy() { return state.busy; },
    place: place,
    config: cfg,
    reset: reset
  };
}());
