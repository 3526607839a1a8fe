// One WebSocket to /ws with reconnect and backoff; events go to `onEvent`. A client heartbeat
// finds a connection that died without a close (mobile networks do that): a `ping` every
// `heartbeatMs`, and no frame within `pongTimeoutMs` after it means the socket is dropped and
// opened again. With `hooks.ticket` the socket opens with a one-time ticket
// (`POST /api/ws/ticket`) fetched before every (re)connect, so the session token never travels
// in a URL; without it, `?token=` (older servers).
export type ServerEvent = { type: string; data: Record<string, unknown> }

export type SocketHooks = {
  /** Close code 4001 (token expired): get a new token before reconnecting. */
  renewToken?: () => Promise<void>
  /** Called after every successful reconnect (not the first open): catch up through REST. */
  onReconnect?: () => void
  heartbeatMs?: number
  pongTimeoutMs?: number
  /** Fetches a one-time WebSocket ticket (`api.wsTicket`). */
  ticket?: () => Promise<string>
}

export type SocketControl = {
  stop: () => void
  /** Reconnects at once when the socket is not open (back online, back in the foreground). */
  wake: () => void
}

/** Delay before reconnect attempt `attempt` (1-based): 1 s, 2 s, 4 s … capped at 30 s, ±25 % jitter. */
export function backoffDelay(attempt: number, random = Math.random): number {
  return Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.75 + random() / 2)
}

export function openSocket(
  token: () => string | null,
  onEvent: (e: ServerEvent) => void,
  onOnline: (online: boolean) => void,
  hooks: SocketHooks = {},
): SocketControl {
  const heartbeatMs = hooks.heartbeatMs ?? 20_000
  const pongTimeoutMs = hooks.pongTimeoutMs ?? 8_000
  let socket: WebSocket | null = null
  let stopped = false
  let attempt = 0
  let opened = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let pongDue: ReturnType<typeof setTimeout> | undefined
  let fetchingTicket = false

  const stopHeartbeat = () => {
    clearInterval(heartbeat)
    clearTimeout(pongDue)
  }

  const schedule = (delay: number) => {
    clearTimeout(timer)
    if (!stopped) timer = setTimeout(connect, delay)
  }

  /** The socket is gone (closed by either side, or found dead): reconnect after a delay. */
  const lost = (current: WebSocket, code: number) => {
    if (socket !== current) return
    stopHeartbeat()
    socket = null
    current.onopen = current.onmessage = current.onclose = null
    if (stopped) return
    onOnline(false)
    attempt += 1
    if (code === 4001 && hooks.renewToken) {
      hooks
        .renewToken()
        .catch(() => undefined)
        .finally(() => schedule(backoffDelay(1)))
      return
    }
    // 4008: too many sockets for this user (another tab); wait the longest delay.
    schedule(code === 4008 ? 30_000 : backoffDelay(attempt))
  }

  function connect() {
    const t = token()
    if (!t || stopped || socket || fetchingTicket) return
    if (!hooks.ticket) {
      open(`token=${encodeURIComponent(t)}`)
      return
    }
    fetchingTicket = true
    hooks
      .ticket()
      .then((ticket) => {
        fetchingTicket = false
        if (!stopped && !socket) open(`ticket=${encodeURIComponent(ticket)}`)
      })
      .catch(() => {
        fetchingTicket = false
        if (stopped) return
        onOnline(false)
        attempt += 1
        schedule(backoffDelay(attempt))
      })
  }

  function open(credential: string) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const current = new WebSocket(`${scheme}://${location.host}/ws?${credential}`)
    socket = current
    current.onopen = () => {
      attempt = 0
      onOnline(true)
      if (opened) hooks.onReconnect?.()
      opened = true
      heartbeat = setInterval(() => {
        try {
          current.send('{"type":"ping"}')
        } catch {
          return
        }
        clearTimeout(pongDue)
        pongDue = setTimeout(() => {
          current.close()
          lost(current, 1006)
        }, pongTimeoutMs)
      }, heartbeatMs)
    }
    current.onmessage = (m) => {
      clearTimeout(pongDue)
      try {
        const event = JSON.parse(String(m.data)) as ServerEvent
        if (event.type !== 'pong') onEvent(event)
      } catch {
        /* ignore malformed frames */
      }
    }
    current.onclose = (e) => lost(current, e.code)
  }

  connect()
  return {
    stop: () => {
      stopped = true
      clearTimeout(timer)
      stopHeartbeat()
      socket?.close()
    },
    wake: () => {
      if (stopped || socket) return
      attempt = 0
      schedule(0)
    },
  }
}
