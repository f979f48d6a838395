// Evaluated by bench/run.ts inside the Persona webview's document (Playwright `frame.evaluate`),
// after the app has rendered. Plain browser JavaScript: it is a string to TypeScript, which has no
// DOM types for bench/. It only watches; it never calls the app or changes its DOM.
//
// Times are epoch milliseconds (`performance.timeOrigin + performance.now()`), comparable with the
// fake server's records on the same machine.
(() => {
  const now = () => performance.timeOrigin + performance.now();

  // ---- long animation frames -------------------------------------------------------------------
  // Frames that took more than 50 ms from their first task to the paint (Chromium 123+), with the
  // scripts that ran longest in each. Unlike rAF gaps they say where the time went: scripts (whose),
  // style and layout, or the rest of rendering. Chromium reports them to the frame's local root
  // only: a same-process iframe's (the webview's, in code-server) go to the workbench page, with
  // the iframe's scripts named. So bench/run.ts also evaluates this file in the workbench page, with
  // `window.__personaBenchExpect.loafOnly`, which installs this part alone.
  if (!window.__personaBenchLoaf) {
    const supported = (PerformanceObserver.supportedEntryTypes ?? []).includes('long-animation-frame');
    let loafs = [];
    if (supported) {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (loafs.length >= 5000) return;
          const end = e.startTime + e.duration;
          const scripts = [...(e.scripts ?? [])]
            .sort((a, b) => b.duration - a.duration)
            .slice(0, 3)
            .map((s) => ({
              invoker: String(s.invoker ?? '').slice(0, 120),
              type: s.invokerType,
              source: String(s.sourceURL ?? '').split('?')[0].split('/').pop(),
              fn: s.sourceFunctionName,
              ms: Math.round(s.duration),
              forcedLayoutMs: Math.round(s.forcedStyleAndLayoutDuration ?? 0),
            }));
          loafs.push({
            start: performance.timeOrigin + e.startTime,
            duration: e.duration,
            blockingDuration: e.blockingDuration,
            scriptMs: Math.round((e.scripts ?? []).reduce((sum, s) => sum + s.duration, 0)),
            /** From the start of style and layout to the frame's end. */
            styleLayoutMs: e.styleAndLayoutStart > 0 ? Math.round(end - e.styleAndLayoutStart) : 0,
            /** From the start of rendering (rAF callbacks, then style and layout) to the frame's end. */
            renderMs: e.renderStart > 0 ? Math.round(end - e.renderStart) : 0,
            scripts,
          });
        }
      }).observe({ type: 'long-animation-frame' });
    }
    window.__personaBenchLoaf = {
      supported,
      reset() {
        loafs = [];
        return supported;
      },
      take() {
        const taken = loafs;
        loafs = [];
        return taken;
      },
      takeJson() {
        return JSON.stringify(this.take());
      },
    };
  }
  if ((window.__personaBenchExpect ?? {}).loafOnly) return 'long animation frames only';
  if (window.__personaBench) return 'already installed';

  // ---- animation frames ------------------------------------------------------------------------
  // While a watch runs, a rAF loop records every frame's start. It also tells whether code is
  // running inside this frame's rAF callbacks: the loop's callback was registered during the
  // previous frame, before the app's, so it runs first in each frame.
  // Each start is a new generation: a callback of a loop stopped by `finish` and still pending when
  // the next watch starts ends there, instead of running beside the new loop (two timestamps a frame).
  let loopOn = false;
  let loopGeneration = 0;
  let inFrame = false;
  let frameTimes = [];
  let sampleScroll = null;
  const loopOf = (generation) => {
    const loop = (ts) => {
      if (!loopOn || generation !== loopGeneration) return;
      inFrame = true;
      setTimeout(() => (inFrame = false), 0);
      frameTimes.push(performance.timeOrigin + ts);
      if (sampleScroll) sampleScroll();
      requestAnimationFrame(loop);
    };
    return loop;
  };
  const startLoop = () => {
    if (loopOn) return;
    loopOn = true;
    requestAnimationFrame(loopOf(++loopGeneration));
  };

  // When what the DOM holds now is on screen, approximately: a change made in the app's rAF
  // callback is painted at the end of this frame (a task posted now runs after that paint); one made
  // while handling a message (a synchronous render) waits for the next frame, so rAF, then a task.
  // `window.event` is the message being handled while its listener's microtasks run.
  const afterPaint = (cb) => {
    if (!window.event && inFrame) setTimeout(() => cb(now()), 0);
    else requestAnimationFrame(() => setTimeout(() => cb(now()), 0));
  };

  // ---- opening the view -------------------------------------------------------------------------
  // bench/run.ts installs the probe as soon as VS Code has written Persona's HTML into the frame,
  // before the app has its state: from then on, each frame checks whether the message box (and the
  // conversation's messages) are in the DOM. A frame's rAF runs before its paint, so the time of the
  // first frame that sees them is when they are painted, to within that frame's rendering.
  // A list that draws only the messages in sight never holds all of a long conversation: for one,
  // bench/run.ts sets `window.__personaBenchExpect.lastText` before installing the probe, text only
  // the conversation's last message has, and the view is drawn once the last message shows it.
  const expect = window.__personaBenchExpect ?? {};
  const open = {
    installedAt: now(),
    readyState: document.readyState,
    lateInstall: document.querySelector('textarea[aria-label="Message"]') !== null,
    stateAt: undefined,
    stateBytes: undefined,
    messageBoxAt: undefined,
    messageCount: 0,
    messageCountAt: undefined,
    expectMessages: 0,
    lastText: typeof expect.lastText === 'string' ? expect.lastText : undefined,
    lastTextAt: undefined,
  };
  const openTick = () => {
    if (open.done) return;
    const t = now();
    if (open.messageBoxAt === undefined && document.querySelector('textarea[aria-label="Message"]')) open.messageBoxAt = t;
    const messages = document.querySelectorAll('.message');
    const count = messages.length;
    if (count !== open.messageCount) {
      open.messageCount = count;
      open.messageCountAt = t;
    }
    if (open.lastText !== undefined && open.lastTextAt === undefined && count > 0 && messages[count - 1].textContent.includes(open.lastText)) open.lastTextAt = t;
    if (t - open.installedAt < 60_000) requestAnimationFrame(openTick);
  };
  if (!open.lateInstall) requestAnimationFrame(openTick);

  let switchWatch = null;

  // ---- host → webview traffic ------------------------------------------------------------------
  let traffic = null;
  // A capturing listener runs before the app's own (bubbling) one: the time is the arrival, not
  // the arrival plus the app's handling of the message.
  window.addEventListener('message', (event) => {
    const t = now();
    const data = event.data;
    if (!traffic && open.stateAt !== undefined) return;
    let bytes = 0;
    try {
      bytes = JSON.stringify(data).length;
    } catch {
      bytes = -1;
    }
    // The host's answer to `webview/ready` is the state the view is drawn from.
    if (open.stateAt === undefined && data && typeof data.ok === 'boolean') {
      open.stateAt = t;
      open.stateBytes = bytes;
    }
    if (!traffic) return;
    const kind = data && typeof data === 'object' ? (data.method ?? (typeof data.ok === 'boolean' ? 'response' : 'other')) : typeof data;
    const entry = { t, kind: String(kind), bytes };
    // Where the reply's raw text ends once this delta is applied: matched to the server's writes.
    if (kind === 'chat/delta' && Array.isArray(data.params)) entry.end = data.params[1] + String(data.params[2]).length;
    traffic.push(entry);
  }, true);

  // ---- the reply being watched ----------------------------------------------------------------
  let watch = null;
  const assistantMessages = () => document.querySelectorAll('.message[data-role="assistant"]');
  const scroller = () => document.querySelector('.messages');

  window.addEventListener(
    'keydown',
    (event) => {
      if (watch && event.key === 'Enter' && watch.enterAt === undefined) watch.enterAt = now();
    },
    true,
  );

  const observer = new MutationObserver(() => {
    const w = watch;
    if (!w) return;
    const t = now();
    if (!w.article || !w.article.isConnected) {
      const all = assistantMessages();
      const last = all[all.length - 1];
      if (!last || last === w.baseline) return;
      w.article = last;
    }
    const status = w.article.dataset.status;
    const content = w.article.querySelector('.message-content');
    // Light: any mutation is a change, and once the first text is there its length is not read (-1).
    const text = w.light ? undefined : content ? content.textContent : '';
    const length = !w.light ? text.length : w.firstText ? -1 : content ? content.textContent.length : 0;
    w.lastMutationAt = t;
    if (!w.firstText && status === 'streaming' && length !== 0) {
      const first = { dom: t, paint: undefined, chars: length };
      w.firstText = first;
      afterPaint((p) => (first.paint = p));
    }
    if (w.light || text !== w.text || status !== w.status) {
      if (status !== 'streaming' && w.status === 'streaming') w.statusChangedAt = t;
      w.text = text;
      w.status = status;
      w.changes++;
      if (w.log.length < 20000) w.log.push([t, length, status === 'streaming' ? 1 : 0]);
      const change = { dom: t, paint: undefined, status, chars: length };
      w.lastChange = change;
      afterPaint((p) => (change.paint = p));
    }
  });

  // Long tasks on this renderer's main thread, which the webview shares with VS Code's workbench
  // (code-server serves both from one origin): `attribution` says whose task it was.
  let longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const a = (e.attribution ?? [])[0];
        longTasks.push({ start: performance.timeOrigin + e.startTime, duration: e.duration, culprit: e.name, container: a ? a.containerType + ':' + (a.containerSrc || a.containerName || a.containerId || '') : '' });
      }
    }).observe({ type: 'longtask' });
  } catch {
    // no Long Tasks API
  }

  const api = {
    now,
    /**
     * How the view opened (see `open` above): null until it is drawn, which is when the message box
     * and `expectMessages` messages are in the DOM, or, given a `lastText` at install, the last
     * message with it.
     */
    openTimings(expectMessages = 1) {
      open.expectMessages = expectMessages;
      const drawn = open.lastText !== undefined ? open.lastTextAt !== undefined : open.messageCount >= expectMessages;
      const ready = open.lateInstall || (open.messageBoxAt !== undefined && drawn);
      if (!ready) return null;
      open.done = true;
      const entries = (type) => performance.getEntriesByType(type);
      const paint = Object.fromEntries(entries('paint').map((e) => [e.name, performance.timeOrigin + e.startTime]));
      return JSON.stringify({
        ...open,
        drawnAt: open.lateInstall ? undefined : Math.max(open.messageBoxAt, open.lastText !== undefined ? open.lastTextAt : open.messageCountAt ?? 0),
        timeOrigin: performance.timeOrigin,
        firstPaintAt: paint['first-contentful-paint'] ?? paint['first-paint'],
        resources: entries('resource').map((e) => ({
          name: e.name.split('?')[0].split('/').slice(-2).join('/'),
          start: performance.timeOrigin + e.startTime,
          end: performance.timeOrigin + e.responseEnd,
          bytes: e.decodedBodySize,
        })),
      });
    },
    /**
     * Starts watching the next reply: Enter, the new assistant message, traffic, frames, scroll.
     * `light`: for a long reply, whose text would cost the webview more to read on every change
     * than the changes themselves: changes are counted without reading the text (it is read once
     * in `finish`) and the scroll position is not sampled (reading it forces a layout).
     */
    arm(options = {}) {
      const all = assistantMessages();
      watch = {
        label: options.label ?? '',
        light: options.light === true,
        armedAt: now(),
        baseline: all[all.length - 1] ?? null,
        article: null,
        enterAt: undefined,
        firstText: undefined,
        lastChange: undefined,
        statusChangedAt: undefined,
        lastMutationAt: undefined,
        text: undefined,
        status: undefined,
        changes: 0,
        log: [],
        scroll: [],
      };
      longTasks = [];
      window.__personaBenchLoaf.reset();
      traffic = [];
      frameTimes = [];
      let lastSample = 0;
      const everyMs = options.scrollSampleMs ?? 100;
      sampleScroll = watch.light ? null : () => {
        const t = now();
        if (t - lastSample < everyMs) return;
        lastSample = t;
        const el = scroller();
        if (!el || !watch) return;
        watch.scroll.push({
          t,
          top: el.scrollTop,
          client: el.clientHeight,
          height: el.scrollHeight,
          status: watch.article ? watch.article.dataset.status : undefined,
          chars: watch.text ? watch.text.length : 0,
        });
      };
      observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-status'] });
      startLoop();
      return true;
    },
    /** True once the watched reply has stopped streaming and nothing changed for `quietMs`. */
    settled(quietMs = 300) {
      const w = watch;
      if (!w || !w.article || w.status === undefined || w.status === 'streaming') return false;
      return now() - (w.lastMutationAt ?? 0) >= quietMs && (!w.lastChange || w.lastChange.paint !== undefined);
    },
    /** How far the watched reply has got, for waiting on it from outside. */
    progress() {
      const w = watch;
      return w ? { status: w.status ?? null, chars: w.text ? w.text.length : 0 } : null;
    },
    /** Stops watching and returns everything recorded. */
    finish() {
      const w = watch;
      observer.disconnect();
      loopOn = false;
      sampleScroll = null;
      watch = null;
      const result = {
        label: w ? w.label : '',
        armedAt: w ? w.armedAt : undefined,
        enterAt: w ? w.enterAt : undefined,
        firstText: w ? w.firstText : undefined,
        lastChange: w ? w.lastChange : undefined,
        statusChangedAt: w ? w.statusChangedAt : undefined,
        finalStatus: w ? w.status : undefined,
        finalText: w ? (w.light ? w.article?.querySelector('.message-content')?.textContent : w.text) : undefined,
        changes: w ? w.changes : 0,
        log: w ? w.log : [],
        longTasks,
        loafSupported: window.__personaBenchLoaf.supported,
        loafs: window.__personaBenchLoaf.take(),
        scroll: w ? w.scroll : [],
        traffic: traffic ?? [],
        frames: frameTimes,
      };
      traffic = null;
      return JSON.stringify(result);
    },
    /** The message list's scroll position now. */
    scrollState() {
      const el = scroller();
      return el ? { top: el.scrollTop, client: el.clientHeight, height: el.scrollHeight } : null;
    },
    /**
     * Times the next click (pointerdown) until the last message shows `text`, checked each frame
     * as the open-view timing is: `switchTiming()` has the result once it is drawn. For a
     * conversation chosen in the Chats list of a view already open.
     */
    watchSwitch(text) {
      const s = { clickAt: undefined, stateAt: undefined, drawnAt: undefined };
      switchWatch = s;
      window.addEventListener('pointerdown', () => (s.clickAt = now()), { capture: true, once: true });
      const onMessage = (event) => {
        if (s.clickAt === undefined || s.stateAt !== undefined) return;
        if (event.data && event.data.method === 'state/changed') {
          s.stateAt = now();
          window.removeEventListener('message', onMessage, true);
        }
      };
      window.addEventListener('message', onMessage, true);
      const tick = () => {
        if (s.clickAt !== undefined) {
          const messages = document.querySelectorAll('.message');
          const last = messages[messages.length - 1];
          if (last && last.textContent.includes(text)) {
            s.drawnAt = now();
            return;
          }
        }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      return 'watching';
    },
    switchTiming() {
      return switchWatch && switchWatch.drawnAt !== undefined ? JSON.stringify(switchWatch) : null;
    },
    /** Records animation-frame starts for `ms`, e.g. while nothing else is measured. */
    framesFor(ms) {
      return new Promise((resolve) => {
        const times = [];
        const end = now() + ms;
        const tick = (ts) => {
          times.push(performance.timeOrigin + ts);
          if (now() < end) requestAnimationFrame(tick);
          else resolve(JSON.stringify(times));
        };
        requestAnimationFrame(tick);
      });
    },
  };
  window.__personaBench = api;
  return 'installed';
})();
