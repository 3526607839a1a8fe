// One WebSocket to /ws with reconnect and backoff; events go to `onEvent`.
export type ServerEvent = { type: string; data: Record<string, unknown> }

export type SocketHooks = {
  /** Close code 4001 (token expired): get a new token before reconnecting. */
  renewToken?: () => Promise<void>
  /** Called after every successful reconnect (not the first open): catch up through REST. */
  onReconnect?: () => void
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
): () => void {
  let socket: WebSocket | null = null
  let stopped = false
  let attempt = 0
  let opened = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const connect = () => {
    const t = token()
    if (!t || stopped) return
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(t)}`)
    socket.onopen = () => {
      attempt = 0
      onOnline(true)
      if (opened) hooks.onReconnect?.()
      opened = true
    }
    socket.onmessage = (m) => {
      try {
        onEvent(JSON.parse(String(m.data)) as ServerEvent)
      } catch {
        /* ignore malformed frames */
      }
    }
    socket.onclose = (e) => {
      if (stopped) return
      onOnline(false)
      attempt += 1
      // 4008: too many sockets for this user (another tab); wait the longest delay.
      const delay = e.code === 4008 ? 30_000 : backoffDelay(attempt)
      if (e.code === 4001 && hooks.renewToken) {
        hooks
          .renewToken()
          .catch(() => undefined)
          .finally(() => {
            if (!stopped) timer = setTimeout(connect, backoffDelay(1))
          })
        return
      }
      timer = setTimeout(connect, delay)
    }
  }
  connect()
  return () => {
    stopped = true
    clearTimeout(timer)
    socket?.close()
  }
}
