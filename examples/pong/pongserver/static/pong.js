// Pong client for the ws6455 pongserver: online play over WebSocket (the
// server is authoritative; we only send which way our paddle should move),
// plus two offline modes that run the same rules in the page.
'use strict';

(() => {
  // Field and rules. Online, the server sends its own values in
  // created/joined and they replace these; offline, these are the rules.
  let F = {
    width: 800, height: 500, paddleWidth: 12, paddleHeight: 90, paddleInset: 24,
    ballSize: 12, paddleSpeed: 420, winScore: 11,
  };
  const BALL_SPEED = 360, BALL_MAX = 900, SPEED_UP = 1.06, SERVE_TICKS = 45, COUNTDOWN_TICKS = 180, MAX_BOUNCE = Math.PI / 3;
  const LOCAL_TICK = 1 / 60;

  const $ = (id) => document.getElementById(id);
  const canvas = $('field'), ctx = canvas.getContext('2d');
  const statusEl = $('status'), nameEl = $('game-name');

  // Everything the end-to-end test (and a curious person in the console)
  // may want to read.
  const debug = window.pongDebug = {
    mode: 'online', connected: false, game: '', side: '', token: '',
    status: '', seq: 0, frames: 0, drawnSeq: 0, reconnects: 0, rejoins: 0,
    ownY: 0, ownPaddlePx: null, lastError: null, ackedSeq: 0, inputSeq: 0,
    over: null, rematchAsked: false, opponentRematch: false, opponentGone: false,
    countdown: 0, games: null, rematches: 0,
  };

  // ---------------------------------------------------------------- input

  const keys = new Set();
  const KEYMAP = { ArrowUp: 'up', ArrowDown: 'down', KeyW: 'up', KeyS: 'down' };
  addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement) return;
    if (e.code === 'KeyR' && !e.repeat && !$('over-actions').hidden && !$('rematch').disabled) { $('rematch').click(); return; }
    if (KEYMAP[e.code]) { keys.add(e.code); e.preventDefault(); onInput(); }
  });
  addEventListener('keyup', (e) => {
    if (keys.delete(e.code)) onInput();
  });
  addEventListener('blur', () => { keys.clear(); onInput(); });

  // Touch: a finger above one's paddle moves it up, below moves it down.
  // In the two-player local mode, each half of the field steers its side.
  const touches = new Map(); // id -> {x, y} in field units
  function fieldPoint(t) {
    const r = canvas.getBoundingClientRect();
    return { x: (t.clientX - r.left) / r.width * F.width, y: (t.clientY - r.top) / r.height * F.height };
  }
  for (const type of ['touchstart', 'touchmove']) {
    canvas.addEventListener(type, (e) => {
      e.preventDefault();
      for (const t of e.changedTouches) touches.set(t.identifier, fieldPoint(t));
      onInput();
    }, { passive: false });
  }
  for (const type of ['touchend', 'touchcancel']) {
    canvas.addEventListener(type, (e) => {
      for (const t of e.changedTouches) touches.delete(t.identifier);
      onInput();
    });
  }

  // dirFor returns the direction wanted for a side (0 left, 1 right):
  // keysFor lists the key codes that steer it.
  function dirFor(side, keyCodes, paddleY) {
    let d = 0;
    for (const k of keyCodes) if (keys.has(k)) d += KEYMAP[k] === 'up' ? -1 : 1;
    for (const p of touches.values()) {
      if (mode === 'local' && (p.x < F.width / 2) !== (side === 0)) continue;
      if (Math.abs(p.y - paddleY) > F.paddleHeight / 4) d += p.y < paddleY ? -1 : 1;
    }
    return Math.sign(d);
  }
  const ALL_KEYS = ['ArrowUp', 'ArrowDown', 'KeyW', 'KeyS'];

  // ---------------------------------------------------------------- rules

  // Sim is the game's rules, the same as the server's (game.go), for the
  // offline modes.
  class Sim {
    constructor() {
      this.paddles = [{ y: F.height / 2, dir: 0 }, { y: F.height / 2, dir: 0 }];
      this.score = [0, 0];
      this.reset(Math.random() < 0.5 ? 0 : 1);
      this.serve = COUNTDOWN_TICKS; // the first serve waits for the countdown
    }
    reset(side) { this.ball = { x: F.width / 2, y: F.height / 2, vx: 0, vy: 0 }; this.serve = SERVE_TICKS; this.server = side; }
    step(dt) {
      for (const p of this.paddles) {
        p.y = Math.max(F.paddleHeight / 2, Math.min(F.height - F.paddleHeight / 2, p.y + p.dir * F.paddleSpeed * dt));
      }
      if (this.serve > 0) {
        if (--this.serve === 0) {
          const a = (Math.random() * 2 - 1) * Math.PI / 6, d = this.server === 1 ? 1 : -1;
          this.ball.vx = d * BALL_SPEED * Math.cos(a);
          this.ball.vy = BALL_SPEED * Math.sin(a);
        }
        return -1;
      }
      const b = this.ball, r = F.ballSize / 2, ox = b.x;
      b.x += b.vx * dt; b.y += b.vy * dt;
      if (b.y < r) { b.y = 2 * r - b.y; b.vy = -b.vy; } else if (b.y > F.height - r) { b.y = 2 * (F.height - r) - b.y; b.vy = -b.vy; }
      if (b.vx < 0) this.bounce(0, ox - r, b.x - r); else if (b.vx > 0) this.bounce(1, ox + r, b.x + r);
      if (b.x < -F.ballSize) { this.score[1]++; this.reset(0); return 1; }
      if (b.x > F.width + F.ballSize) { this.score[0]++; this.reset(1); return 0; }
      return -1;
    }
    bounce(side, from, to) {
      const face = side === 0 ? F.paddleInset + F.paddleWidth : F.width - F.paddleInset - F.paddleWidth;
      if (!(side === 0 ? from >= face && to < face : from <= face && to > face)) return;
      const b = this.ball, off = (b.y - this.paddles[side].y) / (F.paddleHeight / 2 + F.ballSize / 2);
      if (off < -1 || off > 1) return;
      const speed = Math.min(Math.hypot(b.vx, b.vy) * SPEED_UP, BALL_MAX), a = off * MAX_BOUNCE;
      b.vx = (side === 0 ? 1 : -1) * speed * Math.cos(a);
      b.vy = speed * Math.sin(a);
      const r = F.ballSize / 2;
      b.x = side === 0 ? face + (face - (b.x - r)) + r : face - ((b.x + r) - face) - r;
    }
  }

  // ---------------------------------------------------------------- modes

  let mode = 'online';
  let local = null; // {sim, acc, over} in the offline modes

  function setMode(m) {
    mode = debug.mode = m;
    for (const b of document.querySelectorAll('#modes button')) {
      b.classList.toggle('active', b.dataset.mode === m);
      b.setAttribute('aria-pressed', String(b.dataset.mode === m));
    }
    $('lobby').hidden = m !== 'online';
    if (m === 'online') {
      local = null;
      setStatus(net.session ? 'Back online.' : 'Create a game, then share its link with a friend.');
    } else {
      local = { sim: new Sim(), acc: 0, over: '' };
      setStatus(m === 'computer' ? 'You are on the left: W/S or arrows. First to ' + F.winScore + '.' : 'Left: W/S, right: arrows. First to ' + F.winScore + '.');
    }
    updateOverActions();
  }
  for (const b of document.querySelectorAll('#modes button')) b.addEventListener('click', () => setMode(b.dataset.mode));

  // computerDir steers the right paddle: it follows the ball when the ball
  // comes its way, with a dead zone, and drifts back to the centre.
  function computerDir(sim) {
    const p = sim.paddles[1], b = sim.ball;
    const target = b.vx > 0 ? b.y : F.height / 2;
    const dead = F.paddleHeight * 0.3;
    return Math.abs(target - p.y) < dead ? 0 : Math.sign(target - p.y);
  }

  function stepLocal(dt) {
    const L = local, sim = L.sim;
    if (L.over) return;
    L.acc = Math.min(L.acc + dt, 0.25);
    while (L.acc >= LOCAL_TICK) {
      L.acc -= LOCAL_TICK;
      if (mode === 'computer') {
        sim.paddles[0].dir = dirFor(0, ALL_KEYS, sim.paddles[0].y);
        sim.paddles[1].dir = computerDir(sim);
      } else {
        sim.paddles[0].dir = dirFor(0, ['KeyW', 'KeyS'], sim.paddles[0].y);
        sim.paddles[1].dir = dirFor(1, ['ArrowUp', 'ArrowDown'], sim.paddles[1].y);
      }
      const scorer = sim.step(LOCAL_TICK);
      if (scorer >= 0 && sim.score[scorer] >= F.winScore) {
        L.over = scorer === 0 ? (mode === 'computer' ? 'You win!' : 'Left wins!') : (mode === 'computer' ? 'The computer wins' : 'Right wins!');
        setStatus(L.over + ' Press Play again for another game.');
        updateOverActions();
        break;
      }
    }
  }

  // ---------------------------------------------------------------- seats

  // A player's seat is kept in sessionStorage, so that a reload of the tab
  // takes it back at once, and in localStorage by game, so that another tab
  // (after the first was closed) can offer to take it back. Tokens are only
  // good for one game, which ends at most the grace period after the
  // player left.
  const SESSION_KEY = 'pong.session', SEATS_KEY = 'pong.seats', SEAT_TTL = 15 * 60 * 1000;
  const store = {
    get(s, k) { try { return JSON.parse(s.getItem(k) || 'null'); } catch { return null; } },
    set(s, k, v) { try { v === null ? s.removeItem(k) : s.setItem(k, JSON.stringify(v)); } catch { /* storage off */ } },
  };
  function seats() {
    const all = store.get(localStorage, SEATS_KEY) || {}, now = Date.now();
    for (const [g, v] of Object.entries(all)) if (!v || now - v.at > SEAT_TTL) delete all[g];
    return all;
  }
  function saveSeat(s) {
    store.set(sessionStorage, SESSION_KEY, s);
    const all = seats();
    all[s.game] = { token: s.token, side: s.side, at: Date.now() };
    store.set(localStorage, SEATS_KEY, all);
  }
  function forgetSeat(game) {
    const cur = store.get(sessionStorage, SESSION_KEY);
    if (cur && cur.game === game) store.set(sessionStorage, SESSION_KEY, null);
    const all = seats();
    delete all[game];
    store.set(localStorage, SEATS_KEY, all);
  }

  // ---------------------------------------------------------------- network

  const net = {
    ws: null,
    session: null,  // {game, token, side} of a player, or {game, spectator: true}
    pending: null,  // a lobby request to send once connected
    attempt: 0,     // reconnection attempts since the last success
    timer: 0,
    over: false,
  };
  // Online view: server snapshots for interpolation, and our prediction.
  const view = {
    snaps: [],      // [{t, seq, ball, paddles}], t = server time in ms
    offset: null,   // local clock - server time, smallest seen
    tick: 1 / 60,
    state: null,    // latest state
    inputs: [],     // [{seq, dir, at}] moves not yet acknowledged
    dir: 0,
    seq: 0,
    myY: 0,
    latency: 0,     // one-way estimate, seconds
    over: null,     // {winner, reason, score} once the game is over
    rematchAsked: false, opponentRematch: false, opponentGone: false,
  };

  // The close reason the server gives a connection whose seat another one
  // took with its token.
  const REPLACED = 'replaced by a newer connection';

  function wsURL() {
    const u = new URL('ws', location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.hash = '';
    u.search = '';
    return u.href;
  }

  function connect() {
    clearTimeout(net.timer);
    if (net.ws) return;
    const ws = net.ws = new WebSocket(wsURL());
    ws.onopen = () => {
      debug.connected = true;
      const s = net.session;
      if (s && s.token && !net.over) send('rejoin', { game: s.game, token: s.token });
      else if (s && s.spectator && !net.over) send('spectate', { game: s.game });
      if (net.pending) { send(net.pending.type, net.pending.data); net.pending = null; }
    };
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      onMessage(m.type, m.data || {});
    };
    ws.onclose = (e) => {
      debug.connected = false;
      net.ws = null;
      if (e.code === 1000 && e.reason === REPLACED && net.session) {
        // Another tab (or device) took this seat with its token: do not
        // fight it for the seat.
        net.session = null; net.over = true; view.state = null;
        store.set(sessionStorage, SESSION_KEY, null);
        showLobby();
        setStatus('Your seat was taken back from another tab or device: this page has left the game.');
      } else if (net.session && !net.over) {
        // Exponential backoff with jitter: 0.25 s, 0.5 s, 1 s ... up to
        // 8 s, each time a random part of it, so that clients cut off
        // together do not all come back at the same instant.
        const cap = Math.min(8000, 250 * 2 ** net.attempt++);
        const delay = cap / 2 + Math.random() * cap / 2;
        setStatus('Connection lost (' + (e.code || 'no code') + '). Reconnecting in ' + (delay / 1000).toFixed(1) + ' s…');
        net.timer = setTimeout(() => { debug.reconnects++; connect(); }, delay);
      } else if (e.code === 1008) {
        setStatus('The server closed the connection: ' + (e.reason || 'policy violation'));
      }
    };
  }

  function send(type, data) {
    if (net.ws && net.ws.readyState === WebSocket.OPEN) {
      net.ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
    }
  }

  function request(type, name) {
    const game = (name === undefined ? nameEl.value : name).trim();
    if (!/^[A-Za-z0-9 _-]{1,32}$/.test(game)) { setStatus('A game name is 1 to 32 letters, digits, spaces, - or _.'); nameEl.focus(); return; }
    if (net.session && !net.over) { setStatus('Leave this game first.'); return; }
    if (net.over && net.session && net.session.token) send('leave'); // no rematch: tell the opponent
    nameEl.value = game;
    net.session = null; net.over = false;
    net.pending = { type, data: { game } };
    if (net.ws && net.ws.readyState === WebSocket.OPEN) { send(type, { game }); net.pending = null; } else connect();
  }
  // Enter in the name field: join the game if it is waiting for a player,
  // else create it.
  $('lobby-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = nameEl.value.trim();
    const waiting = (debug.games || []).some((g) => g.name === name && g.status === 'waiting');
    request(waiting ? 'join' : 'create');
  });
  $('join').addEventListener('click', () => request('join'));
  $('spectate').addEventListener('click', () => request('spectate'));
  $('leave').addEventListener('click', () => {
    send('leave');
    if (net.session) forgetSeat(net.session.game);
    net.session = null; net.over = true;
    view.state = null; view.over = null;
    showLobby();
    setStatus('You left the game.');
    refreshGames();
  });
  $('rematch').addEventListener('click', () => {
    if (mode !== 'online') { local = { sim: new Sim(), acc: 0, over: '' }; setStatus('New game: first to ' + F.winScore + '.'); updateOverActions(); return; }
    send('rematch');
    view.rematchAsked = debug.rematchAsked = true;
    setStatus(view.opponentRematch ? 'Starting the rematch…' : 'Rematch asked: waiting for your opponent to accept.');
    updateOverActions();
  });
  $('new-game').addEventListener('click', () => {
    if (mode !== 'online') { setMode('online'); return; }
    if (net.session && net.session.token) send('leave'); // the opponent is told: no rematch
    net.session = null;
    view.state = null; view.over = null;
    showLobby();
    updateOverActions();
    setStatus('Create a game, or join one from the list.');
    nameEl.focus();
    refreshGames();
  });
  $('copy').addEventListener('click', async () => {
    const el = $('share-url');
    try { await navigator.clipboard.writeText(el.value); setStatus('Link copied: send it to your opponent.'); } catch { el.select(); setStatus('Select the link and copy it.'); }
  });

  // showLobby shows the lobby form (no game) or the game's panel.
  function showLobby() {
    const s = net.session, playing = s && !net.over;
    $('lobby-form').hidden = !!playing;
    $('in-game').hidden = !playing;
    if (playing) {
      $('game-label').textContent = s.game;
      $('side-label').textContent = s.spectator ? 'watching' : 'on the ' + s.side;
      $('leave').textContent = s.spectator ? 'Stop watching' : 'Leave the game';
      $('share-url').value = shareURL(s.game);
      $('share').hidden = false;
      $('resume').hidden = true;
    } else showResume();
  }
  function shareURL(game) {
    const u = new URL(location.href);
    u.search = ''; u.hash = 'join=' + encodeURIComponent(game);
    return u.href;
  }

  // The "take your seat back" offer, for a seat kept by a closed tab.
  let resumable = null;
  function showResume() {
    resumable = null;
    const all = seats(), names = Object.keys(all);
    if (names.length && !net.session) {
      const g = names.sort((a, b) => all[b].at - all[a].at)[0];
      resumable = { game: g, token: all[g].token, side: all[g].side };
      $('resume-name').textContent = '"' + g + '" (' + resumable.side + ')';
    }
    $('resume').hidden = !resumable;
  }
  $('resume-btn').addEventListener('click', () => {
    if (!resumable) return;
    net.session = resumable; net.over = false;
    setStatus('Taking your seat back in "' + resumable.game + '"…');
    if (net.ws && net.ws.readyState === WebSocket.OPEN) send('rejoin', { game: resumable.game, token: resumable.token }); else connect();
  });
  $('resume-forget').addEventListener('click', () => { if (resumable) forgetSeat(resumable.game); showResume(); });

  // updateOverActions shows the buttons over the canvas once a game is over.
  function updateOverActions() {
    const box = $('over-actions'), rematch = $('rematch');
    if (mode !== 'online') {
      box.hidden = !(local && local.over);
      rematch.hidden = false; rematch.disabled = false; rematch.textContent = 'Play again';
      $('new-game').textContent = 'Play online';
      return;
    }
    const player = net.session && net.session.token;
    box.hidden = !view.over;
    $('new-game').textContent = 'New game';
    rematch.hidden = !player;
    rematch.disabled = view.rematchAsked || view.opponentGone;
    rematch.textContent = view.opponentGone ? 'Opponent left' : view.rematchAsked ? 'Waiting for opponent…' : view.opponentRematch ? 'Accept rematch' : 'Rematch';
  }

  // The list of open games, while in the lobby.
  async function refreshGames() {
    let list;
    try {
      const r = await fetch(new URL('games', location.href), { cache: 'no-store' });
      if (!r.ok) return;
      list = (await r.json()).games || [];
    } catch { return; }
    debug.games = list;
    const ul = $('games');
    ul.textContent = '';
    for (const g of list) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name'; name.textContent = g.name; name.title = g.name;
      const st = document.createElement('span');
      st.className = 'pill ' + (g.status === 'waiting' ? 'ok' : g.status === 'paused' ? 'warn' : '');
      st.textContent = g.status === 'waiting' ? 'needs a player' : g.status;
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'small';
      b.textContent = g.status === 'waiting' ? 'Join' : 'Watch';
      b.addEventListener('click', () => request(g.status === 'waiting' ? 'join' : 'spectate', g.name));
      li.append(name, st, b);
      ul.append(li);
    }
    $('no-games').hidden = list.length > 0;
    $('games-count').textContent = list.length === 1 ? '1 game' : list.length + ' games';
  }
  setInterval(() => { if (!document.hidden && mode === 'online') refreshGames(); }, 3000);

  const sideIndex = (s) => (s === 'left' ? 0 : 1);

  const otherSide = (s) => (s === 'left' ? 'right' : 'left');
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

  function onMessage(type, d) {
    switch (type) {
      case 'created': case 'joined': case 'rejoined': case 'rematched':
        if (d.field) F = d.field;
        view.tick = d.tick || view.tick;
        net.session = { game: d.game, token: d.token, side: d.side };
        net.over = false;
        net.attempt = 0;
        saveSeat(net.session);
        Object.assign(debug, { game: d.game, side: d.side, token: d.token, over: null });
        if (type === 'rejoined') { debug.rejoins++; view.inputs = []; view.dir = 0; onInput(); }
        if (type === 'rematched') debug.rematches++;
        view.over = null; view.rematchAsked = view.opponentRematch = view.opponentGone = false;
        Object.assign(debug, { rematchAsked: false, opponentRematch: false, opponentGone: false });
        view.snaps = []; view.offset = null; view.state = null;
        showLobby(); updateOverActions();
        setStatus({
          created: 'Game "' + d.game + '" created: you are on the left. Send the link to your opponent.',
          joined: 'Joined "' + d.game + '": you are on the right.',
          rejoined: 'You are back in "' + d.game + '", on the ' + d.side + '.',
          rematched: 'Rematch! Same sides: you are on the ' + d.side + '.',
        }[type]);
        break;
      case 'spectating':
        if (d.field) F = d.field;
        view.tick = d.tick || view.tick;
        net.session = { game: d.game, spectator: true };
        net.over = false; net.attempt = 0;
        Object.assign(debug, { game: d.game, side: 'spectator', over: null });
        view.over = null; view.snaps = []; view.offset = null; view.state = null;
        showLobby(); updateOverActions();
        setStatus('Watching "' + d.game + '".');
        break;
      case 'state': onState(d); break;
      case 'opponent':
        if (d.event === 'rematch') { view.opponentRematch = debug.opponentRematch = true; updateOverActions(); }
        if (d.event === 'left') { view.opponentGone = debug.opponentGone = true; updateOverActions(); }
        setStatus({
          joined: 'Your opponent is here. Get ready!',
          disconnected: "Your opponent's connection dropped: the game waits up to " + Math.round(d.grace) + ' s for them to come back.',
          rejoined: 'Your opponent is back.',
          rematch: view.rematchAsked ? 'Starting the rematch…' : 'Your opponent wants a rematch: press Rematch (or R) to accept.',
          left: 'Your opponent has left this game: no rematch. Start a new game.',
        }[d.event] || '');
        break;
      case 'over': {
        net.over = true;
        view.over = debug.over = d;
        // A game lost by leaving or by not coming back has no opponent to
        // play again.
        if (d.reason !== 'score') view.opponentGone = debug.opponentGone = true;
        if (net.session) forgetSeat(net.session.game); // its token is no good any more
        showLobby(); updateOverActions();
        const t = overText(d);
        setStatus(t.title + (t.title.endsWith('!') ? ' ' : '. ') + t.reason);
        refreshGames();
        break;
      }
      case 'left': break;
      case 'error':
        debug.lastError = d;
        setStatus('Error: ' + d.message);
        if (d.code === 'no_such_game' || d.code === 'bad_token') {
          // Our game is gone (it ended while we were away).
          if (net.session && net.session.token && !net.over) {
            forgetSeat(net.session.game);
            net.session = null; net.over = true;
            showLobby();
            setStatus('That game is over or gone: create or join another one.');
          }
        }
        break;
    }
  }

  // overText words the end of a game for this page's player (or spectator).
  function overText(d) {
    const me = net.session && net.session.side, player = me === 'left' || me === 'right';
    const title = !d.winner ? 'Nobody wins' : !player ? cap(d.winner) + ' wins' : me === d.winner ? 'You win!' : 'You lose';
    const loser = d.winner ? otherSide(d.winner) : '';
    const reason = {
      score: 'First to ' + F.winScore + ' points.',
      left: player ? 'Your opponent left the game.' : d.winner ? 'The ' + loser + ' player left the game.' : 'The player left the game.',
      forfeit: player ? 'Your opponent did not come back in time.' : 'The ' + loser + ' player did not come back in time.',
      abandoned: 'Both players left.',
    }[d.reason] || '';
    return { title, reason, win: player && me === d.winner, lose: player && d.winner && me !== d.winner };
  }

  function onState(s) {
    const now = performance.now();
    const st = s.seq * view.tick * 1000;
    // The offset between our clock and the server's tick clock: the
    // smallest seen is the one with the least network delay.
    const off = now - st;
    if (view.offset === null || off < view.offset) view.offset = off;
    else view.offset += (off - view.offset) * 0.002; // follow slow drift
    view.snaps.push({ t: st, seq: s.seq, ball: s.ball, paddles: s.paddles, serve: s.serve });
    if (view.snaps.length > 30) view.snaps.shift();
    view.state = s;
    debug.seq = s.seq; debug.status = s.status;
    const side = net.session && net.session.side;
    if (side === 'left' || side === 'right') reconcile(s.paddles[sideIndex(side)], s.status, now);
  }

  // reconcile corrects our predicted paddle with the server's: moves the
  // server has applied (seq <= ack) are forgotten; if it has seen our
  // latest move, our paddle should be where the server's is plus what the
  // current direction added during the one-way delay.
  function reconcile(p, status, now) {
    debug.ackedSeq = p.ack;
    while (view.inputs.length && view.inputs[0].seq <= p.ack) {
      const i = view.inputs.shift();
      const rtt = (now - i.at) / 1000;
      view.latency = view.latency ? view.latency * 0.8 + rtt / 2 * 0.2 : rtt / 2;
    }
    if (status !== 'playing') { view.myY = p.y; return; }
    if (view.inputs.length) return; // the server has not seen our latest move yet
    const target = clampPaddle(p.y + view.dir * F.paddleSpeed * view.latency);
    const err = target - view.myY;
    view.myY += Math.abs(err) > F.paddleHeight ? err : err * 0.25;
  }

  function clampPaddle(y) { return Math.max(F.paddleHeight / 2, Math.min(F.height - F.paddleHeight / 2, y)); }

  // onInput sends a move when our wanted direction changes. Moves carry an
  // increasing seq, which the server echoes as the paddle's ack.
  function onInput() {
    if (mode !== 'online' || !net.session || !net.session.token) return;
    const d = dirFor(sideIndex(net.session.side), ALL_KEYS, view.myY);
    if (d === view.dir) return;
    view.dir = d;
    const seq = ++view.seq;
    debug.inputSeq = seq;
    view.inputs.push({ seq, dir: d, at: performance.now() });
    if (view.inputs.length > 100) view.inputs.shift();
    send('move', { dir: d < 0 ? 'up' : d > 0 ? 'down' : 'none', seq });
  }

  // interpolated returns the ball and paddles as they were at server time
  // t, between the two snapshots around it (or the latest, extrapolated a
  // little, when we are short of snapshots).
  function interpolated(t) {
    const S = view.snaps;
    if (!S.length) return null;
    let a = S[0], b = S[S.length - 1];
    if (t >= b.t) {
      const dt = Math.min(t - b.t, 100) / 1000;
      const still = b.serve > 0 || (view.state && view.state.status !== 'playing');
      return { ball: still ? b.ball : { x: b.ball.x + b.ball.vx * dt, y: b.ball.y + b.ball.vy * dt }, paddles: b.paddles };
    }
    for (let i = S.length - 1; i > 0; i--) if (S[i - 1].t <= t) { a = S[i - 1]; b = S[i]; break; }
    if (t <= a.t) return { ball: a.ball, paddles: a.paddles };
    const k = (t - a.t) / (b.t - a.t);
    const jump = Math.abs(b.ball.x - a.ball.x) > F.width / 4; // a point was scored: no sliding back
    const lerp = (x, y) => x + (y - x) * k;
    return {
      ball: jump ? b.ball : { x: lerp(a.ball.x, b.ball.x), y: lerp(a.ball.y, b.ball.y) },
      paddles: [0, 1].map((i) => ({ y: lerp(a.paddles[i].y, b.paddles[i].y) })),
    };
  }

  // ---------------------------------------------------------------- drawing

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr) || F.width;
    const h = Math.round(w * F.height / F.width);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  }

  // draw paints the field; screen adds, over it, a banner ({text}), the
  // countdown before the first serve ({countdown}), or the game-over
  // screen ({over: {title, score, reason, hint, win, lose}}).
  function draw(ball, paddles, score, own, screen) {
    resize();
    const k = canvas.width / F.width;
    ctx.setTransform(k, 0, 0, k, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, F.width, F.height);
    ctx.fillStyle = '#333';
    for (let y = 10; y < F.height; y += 30) ctx.fillRect(F.width / 2 - 2, y, 4, 15);
    ctx.fillStyle = '#888';
    ctx.font = '48px ui-monospace, monospace';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    ctx.fillText(String(score[0]), F.width / 4, 60);
    ctx.fillText(String(score[1]), F.width * 3 / 4, 60);
    for (let i = 0; i < 2; i++) {
      const x = i === 0 ? F.paddleInset : F.width - F.paddleInset - F.paddleWidth;
      ctx.fillStyle = i === own ? '#4fc3f7' : '#fff';
      ctx.fillRect(x, paddles[i].y - F.paddleHeight / 2, F.paddleWidth, F.paddleHeight);
    }
    if (ball) {
      ctx.fillStyle = '#fff';
      ctx.fillRect(ball.x - F.ballSize / 2, ball.y - F.ballSize / 2, F.ballSize, F.ballSize);
    }
    const font = (px, w) => (w || '') + ' ' + px + 'px system-ui, -apple-system, "Segoe UI", sans-serif';
    screen = screen || {};
    debug.countdown = screen.countdown || 0;
    if (screen.text) {
      ctx.fillStyle = 'rgba(0,0,0,.6)';
      ctx.fillRect(0, F.height / 2 - 40, F.width, 80);
      ctx.fillStyle = '#fff';
      ctx.font = font(28);
      ctx.fillText(screen.text, F.width / 2, F.height / 2 + 10);
    } else if (screen.countdown) {
      // Over the field without dimming it: the paddles stay playable.
      ctx.fillStyle = '#4fc3f7';
      ctx.font = font(140, '700');
      ctx.fillText(String(screen.countdown), F.width / 2, F.height / 2 - 25); // above the ball
      ctx.fillStyle = '#cfd8e3';
      ctx.font = font(24);
      ctx.fillText('Get ready', F.width / 2, F.height / 2 - 140);
    } else if (screen.over) {
      const o = screen.over;
      ctx.fillStyle = 'rgba(5,10,16,.82)';
      ctx.fillRect(0, 0, F.width, F.height);
      ctx.fillStyle = '#8d99a8';
      ctx.font = font(20, '600');
      ctx.fillText('GAME OVER', F.width / 2, 100);
      ctx.fillStyle = o.win ? '#7ee787' : o.lose ? '#ff7b72' : '#ffffff';
      ctx.font = font(64, '800');
      ctx.fillText(o.title, F.width / 2, 175);
      ctx.fillStyle = '#ffffff';
      ctx.font = '56px ui-monospace, monospace';
      ctx.fillText(o.score, F.width / 2, 250);
      ctx.fillStyle = '#cfd8e3';
      ctx.font = font(22);
      ctx.fillText(o.reason, F.width / 2, 300);
      if (o.hint) {
        ctx.fillStyle = '#4fc3f7';
        ctx.font = font(20, '600');
        ctx.fillText(o.hint, F.width / 2, 340);
      }
    }
    if (own === 0 || own === 1) {
      const x = own === 0 ? F.paddleInset + F.paddleWidth / 2 : F.width - F.paddleInset - F.paddleWidth / 2;
      debug.ownPaddlePx = { x: Math.round(x * k), y: Math.round(paddles[own].y * k) };
    } else debug.ownPaddlePx = null;
    debug.frames++;
  }

  const BANNER = { waiting: 'Waiting for an opponent…', paused: 'Paused: waiting for a player to come back' };

  // overScreen is the game-over screen of an online game.
  function overScreen(d) {
    const t = overText(d);
    let hint = '';
    if (net.session && net.session.token) {
      hint = view.opponentGone ? 'Your opponent has left' : view.rematchAsked ? 'Rematch asked: waiting for your opponent'
        : view.opponentRematch ? 'Your opponent wants a rematch' : 'Rematch? Press R';
    }
    return { over: { title: t.title, score: d.score[0] + ' : ' + d.score[1], reason: t.reason, hint, win: t.win, lose: t.lose } };
  }

  // countdown returns the seconds (3, 2, 1) before the first serve of a
  // game in play, or 0.
  function countdown(serve, score, tick) {
    if (!serve || score[0] + score[1] > 0 || serve <= SERVE_TICKS) return 0;
    return Math.ceil(serve * tick);
  }

  function render(now) {
    if (mode !== 'online') {
      const s = local.sim;
      debug.ownY = s.paddles[0].y;
      debug.score = s.score.slice();
      const screen = local.over ? { over: { title: local.over, score: s.score[0] + ' : ' + s.score[1], reason: 'First to ' + F.winScore + ' points.', hint: 'Play again? Press R', win: local.over === 'You win!', lose: local.over === 'The computer wins' } }
        : { countdown: countdown(s.serve, s.score, LOCAL_TICK) };
      draw(s.ball, s.paddles, s.score, mode === 'computer' ? 0 : -1, screen);
      return;
    }
    const st = view.state;
    if (!st) { draw(null, [{ y: F.height / 2 }, { y: F.height / 2 }], [0, 0], -1, view.over ? overScreen(view.over) : { text: net.session ? 'Connecting…' : 'Create or join a game' }); return; }
    // Render a little in the past (two ticks) so that there is nearly
    // always a snapshot on each side of the time drawn.
    const t = now - view.offset - 2 * view.tick * 1000;
    const v = interpolated(t) || { ball: st.ball, paddles: st.paddles };
    const side = net.session && net.session.side;
    const own = side === 'left' ? 0 : side === 'right' ? 1 : -1;
    const paddles = [{ y: v.paddles[0].y }, { y: v.paddles[1].y }];
    if (own >= 0) paddles[own].y = view.myY;
    debug.ownY = own >= 0 ? view.myY : 0;
    let screen = BANNER[st.status] ? { text: BANNER[st.status] } : null;
    if (st.status === 'playing') screen = { countdown: countdown(st.serve, st.score, view.tick) };
    if (view.over) screen = overScreen(view.over);
    else if (!debug.connected && net.session && !net.over) screen = { text: 'Reconnecting…' };
    draw(view.over ? null : v.ball, paddles, st.score, own, screen);
    debug.drawnSeq = st.seq;
  }

  // The loop: requestAnimationFrame when the page is visible, and a timer
  // otherwise (a hidden page gets no animation frames, but an online game
  // must keep its prediction and the state current).
  let last = performance.now();
  function frame() {
    const now = performance.now();
    const dt = Math.min((now - last) / 1000, 0.1);
    last = now;
    if (mode !== 'online') stepLocal(dt);
    else if (view.state && view.state.status === 'playing' && net.session && net.session.token) {
      view.myY = clampPaddle(view.myY + view.dir * F.paddleSpeed * dt);
    }
    render(now);
  }
  function loop() { frame(); if (!document.hidden) requestAnimationFrame(loop); }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) requestAnimationFrame(loop); });
  setInterval(() => { if (document.hidden) frame(); }, 100);

  function setStatus(s) { statusEl.textContent = s; }

  // Start: take this tab's seat back after a reload, or follow a shared
  // link (#join=name), or offer a seat kept by a closed tab.
  setMode('online');
  const saved = store.get(sessionStorage, SESSION_KEY);
  const shared = new URLSearchParams(location.hash.slice(1)).get('join');
  if (saved && saved.game && saved.token) {
    net.session = saved;
    setStatus('Taking your seat back in "' + saved.game + '"…');
    connect();
  } else if (shared) {
    history.replaceState(null, '', location.pathname + location.search);
    request('join', shared);
  }
  showLobby();
  refreshGames();
  requestAnimationFrame(loop);
})();
