/**
 * The status page's live connections table and trace panel (issue 15), as
 * fragments status-page.ts puts into its one document: CSS, HTML, and a
 * script that runs after the page's own (it uses its `$`, `bytes`, `count`
 * and `duration`).
 *
 * The table is a page of /api/connections (50 rows, newest first, searched
 * on the server), so 10,000 connections cost the browser 50 rows. Clicking
 * a row streams its trace (/api/trace, NDJSON, by client id, or by
 * connection before the CONNECT) into the panel; the panel keeps the last
 * 1,000 lines. Text from the network goes into textContent only. With
 * --admin-token, the page asks for the token once and keeps it in
 * sessionStorage for the tab.
 */

export const traceStyle = `
.conns, .trace { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 16px; overflow-x: auto; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; margin-bottom: 8px; }
.toolbar input[type=search] { min-width: 340px; padding: 4px 8px; font: inherit; border: 1px solid var(--line); border-radius: 6px; }
.toolbar button, .trace button { font: inherit; padding: 2px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); cursor: pointer; }
#conns tr { cursor: pointer; }
#conns tr:hover td { background: #eef3fb; }
#conns tr.traced td:first-child::before { content: "● "; color: var(--bad); }
.notice { color: var(--bad); }
.lines { font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 420px; overflow-y: auto; white-space: pre-wrap; word-break: break-word; }
.ev { display: grid; grid-template-columns: 92px 110px 34px 1fr; gap: 10px; border-bottom: 1px solid var(--line); padding: 1px 0; }
.ev .d { font-weight: 600; }
.ev.c2b .d { color: var(--from); }
.ev.b2c .d { color: var(--to); }
.ev.ctl .d { color: #7c3aed; }
.ev.bad .x { color: var(--bad); }
.ev.gw .x { color: var(--muted); }
`

export const traceBody = `
  <section class="conns">
    <h2>Connections <span id="conns-count" class="muted"></span></h2>
    <div class="toolbar">
      <input id="conn-search" type="search" placeholder="search client id, address, broker, #n" aria-label="search connections">
      <button id="conn-prev" type="button" aria-label="newer">‹</button><span id="conn-page" class="muted"></span><button id="conn-next" type="button" aria-label="older">›</button>
      <span id="conn-auth" hidden>admin token <input id="conn-token" type="password" autocomplete="off"></span>
      <span class="muted">click a row to trace it</span>
    </div>
    <p id="conns-notice" class="notice" hidden></p>
    <table>
      <thead><tr><th>Client id</th><th>Remote address</th><th class="num">Age</th><th>Broker</th><th class="num">Msgs in</th><th class="num">Msgs out</th><th class="num">Bytes in</th><th class="num">Bytes out</th><th class="num">Buffered</th></tr></thead>
      <tbody id="conns"></tbody>
    </table>
    <p id="no-conns" class="muted" hidden>No connection.</p>
  </section>
  <section class="trace" id="trace" hidden>
    <h2>Trace <span id="trace-title" class="muted"></span> <button id="trace-stop" type="button">Stop</button></h2>
    <div id="trace-lines" class="lines" role="log" aria-live="polite"></div>
  </section>
`

export const traceScript = `
;(() => {
  const PAGE = 50
  const KEEP_LINES = 1000
  const LABELS = { 'client->broker': 'C→B', 'broker->client': 'B→C', 'client->gateway': 'C→G', 'gateway->client': 'G→C', gateway: 'GW' }
  const TONE = { 'client->broker': 'c2b', 'broker->client': 'b2c', 'client->gateway': 'ctl', 'gateway->client': 'ctl', gateway: 'gw' }
  let offset = 0
  let query = ''
  let tracing
  const token = () => sessionStorage.getItem('mwg-admin-token') || ''
  const auth = () => token() === '' ? {} : { Authorization: 'Bearer ' + token() }

  function notice (text) {
    $('conns-notice').textContent = text
    $('conns-notice').hidden = text === ''
  }

  async function refused (res) {
    if (res.status === 401) {
      $('conn-auth').hidden = false
      return 'this gateway needs its admin token (--admin-token): enter it above'
    }
    try { return (await res.json()).message } catch { return 'HTTP ' + res.status }
  }

  function cell (tr, text, cls) {
    const td = document.createElement('td')
    td.textContent = text
    if (cls) td.className = cls
    tr.append(td)
  }

  function renderConnections (list) {
    const rows = list.rows.map((c) => {
      const tr = document.createElement('tr')
      tr.dataset.conn = String(c.connectionId)
      if (c.clientId !== undefined) tr.dataset.client = c.clientId
      if (c.traced) tr.className = 'traced'
      cell(tr, c.clientId === undefined ? '— (#' + c.connectionId + ', no CONNECT yet)' : c.clientId, 'client')
      cell(tr, c.remoteAddress)
      cell(tr, duration(c.ageMs), 'num')
      cell(tr, c.broker === undefined ? '—' : c.broker)
      cell(tr, count(c.packetsFromClient), 'num')
      cell(tr, count(c.packetsToClient), 'num')
      cell(tr, bytes(c.bytesFromClient), 'num')
      cell(tr, bytes(c.bytesToClient), 'num')
      cell(tr, bytes(c.bufferedBytes), 'num')
      tr.addEventListener('click', () => startTrace(c))
      return tr
    })
    $('conns').replaceChildren(...rows)
    $('no-conns').hidden = rows.length > 0
    const shown = list.matched === 0 ? '0' : (list.offset + 1) + '–' + (list.offset + rows.length)
    $('conns-count').textContent = '(' + list.total + (query === '' ? '' : ', ' + list.matched + ' matching') + ')'
    $('conn-page').textContent = shown + ' of ' + list.matched
    $('conn-prev').disabled = list.offset === 0
    $('conn-next').disabled = list.offset + rows.length >= list.matched
  }

  async function pollConnections () {
    try {
      const params = new URLSearchParams({ q: query, offset: String(offset), limit: String(PAGE) })
      const res = await fetch('api/connections?' + params, { cache: 'no-store', headers: auth() })
      if (!res.ok) notice(await refused(res))
      else {
        notice('')
        renderConnections(await res.json())
      }
    } catch (err) {
      notice(String(err))
    }
    clearTimeout(pollConnections.timer)
    pollConnections.timer = setTimeout(pollConnections, 2000)
  }

  function line (e) {
    const div = document.createElement('div')
    const trouble = e.type === 'dropped' || e.type === 'cut_off' || e.type === 'error' || e.type === 'limit' ||
      (e.type === 'close' && e.initiator !== 'client') || (e.type === 'packet' && typeof e.code === 'number' && (e.code >= 128 || (e.packet === 'CONNACK' && e.code !== 0)))
    div.className = 'ev ' + (TONE[e.dir] || 'gw') + (trouble ? ' bad' : '')
    div.dataset.type = e.type
    if (e.packet !== undefined) div.dataset.packet = e.packet
    if (e.frame !== undefined) div.dataset.frame = e.frame
    if (e.dir !== undefined) div.dataset.dir = e.dir
    if (e.conn !== undefined) div.dataset.conn = String(e.conn)
    const parts = [
      [typeof e.time === 'string' ? e.time.slice(11, 23) : '', 't'],
      [e.conn === undefined ? '' : '#' + e.conn + (typeof e.client === 'string' ? ' ' + e.client : ''), 'c'],
      [LABELS[e.dir] || '', 'd'],
      [e.text || e.type, 'x']
    ]
    for (const [text, cls] of parts) {
      const span = document.createElement('span')
      span.className = cls
      span.textContent = text
      div.append(span)
    }
    return div
  }

  function append (e) {
    const box = $('trace-lines')
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4
    box.append(line(e))
    while (box.childElementCount > KEEP_LINES) box.firstElementChild.remove()
    if (atBottom) box.scrollTop = box.scrollHeight
  }

  async function startTrace (c) {
    stopTrace()
    const params = new URLSearchParams({ text: '1' })
    if (c.clientId !== undefined) params.set('client', c.clientId)
    else params.set('conn', String(c.connectionId))
    const controller = new AbortController()
    tracing = controller
    $('trace').hidden = false
    $('trace-lines').replaceChildren()
    $('trace-title').textContent = c.clientId !== undefined ? 'client ' + JSON.stringify(c.clientId) : 'connection #' + c.connectionId
    try {
      const res = await fetch('api/trace?' + params, { headers: auth(), signal: controller.signal })
      if (!res.ok) {
        append({ type: 'error', dir: 'gateway', text: await refused(res) })
        return
      }
      const reader = res.body.getReader()
      const decoder = new TextDecoder()
      let rest = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const lines = (rest + decoder.decode(value, { stream: true })).split('\\n')
        rest = lines.pop()
        for (const text of lines) if (text !== '') append(JSON.parse(text))
      }
    } catch (err) {
      if (!controller.signal.aborted) append({ type: 'error', dir: 'gateway', text: String(err) })
    }
  }

  function stopTrace () {
    if (tracing !== undefined) tracing.abort()
    tracing = undefined
  }

  $('trace-stop').addEventListener('click', () => {
    stopTrace()
    $('trace-title').textContent += ' (stopped)'
  })
  $('conn-search').addEventListener('input', (event) => {
    query = event.target.value.trim()
    offset = 0
    pollConnections()
  })
  $('conn-prev').addEventListener('click', () => { offset = Math.max(0, offset - PAGE); pollConnections() })
  $('conn-next').addEventListener('click', () => { offset += PAGE; pollConnections() })
  $('conn-token').addEventListener('change', (event) => {
    sessionStorage.setItem('mwg-admin-token', event.target.value.trim())
    pollConnections()
  })
  pollConnections()
})()
`
