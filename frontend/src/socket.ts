// One WebSocket to /ws with reconnect and backoff; events go to `onEvent`.
export type ServerEvent = { type: string; data: Record<string, unknown> }

export function openSocket(
  token: () => string | null,
  onEvent: (e: ServerEvent) => void,
  onOnline: (online: boolean) => void,
): () => void {
  let socket: WebSocket | null = null
  let stopped = false
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const connect = () => {
    const t = token()
    if (!t || stopped) return
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(t)}`)
    socket.onopen = () => {
      attempt = 0
      onOnline(true)
    }
    socket.onmessage = (m) => {
      try {
        onEvent(JSON.parse(String(m.data)) as ServerEvent)
      } catch {
        /* ignore malformed frames */
      }
    }
    socket.onclose = () => {
      if (stopped) return
      onOnline(false)
      attempt += 1
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.75 + Math.random() / 2)
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
