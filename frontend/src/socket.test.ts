import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { backoffDelay, openSocket, type ServerEvent } from './socket'

class FakeSocket {
  static all: FakeSocket[] = []
  onopen: (() => void) | null = null
  onmessage: ((m: { data: string }) => void) | null = null
  onclose: ((e: { code: number }) => void) | null = null
  closed = false
  sent: string[] = []
  send(data: string) {
    this.sent.push(data)
  }
  constructor(public url: string) {
    FakeSocket.all.push(this)
  }
  close() {
    this.closed = true
  }
}

beforeEach(() => {
  FakeSocket.all = []
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', FakeSocket)
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('openSocket', () => {
  it('opens with a fresh one-time ticket, never the token, on every (re)connect', async () => {
    let n = 0
    const ticket = vi.fn(() => Promise.resolve(`t${++n}`))
    const { stop } = openSocket(() => 'secret-token', () => undefined, () => undefined, { ticket })
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1))
    expect(FakeSocket.all[0].url).toContain('/ws?ticket=t1')
    expect(FakeSocket.all[0].url).not.toContain('secret-token')
    FakeSocket.all[0].onopen?.()
    FakeSocket.all[0].onclose?.({ code: 1006 })
    await vi.advanceTimersByTimeAsync(30_000)
    expect(FakeSocket.all).toHaveLength(2)
    expect(FakeSocket.all[1].url).toContain('/ws?ticket=t2')
    expect(ticket).toHaveBeenCalledTimes(2)
    stop()
  })

  it('delivers events, reconnects with backoff and catches up after a reconnect', () => {
    const events: ServerEvent[] = []
    const online: boolean[] = []
    const onReconnect = vi.fn()
    const { stop } = openSocket(() => 'tok en', (e) => events.push(e), (o) => online.push(o), { onReconnect })
    expect(FakeSocket.all).toHaveLength(1)
    expect(FakeSocket.all[0].url).toContain('/ws?token=tok%20en')
    FakeSocket.all[0].onopen?.()
    FakeSocket.all[0].onmessage?.({ data: '{"type":"balance","data":{"total":3}}' })
    FakeSocket.all[0].onmessage?.({ data: 'not json' })
    expect(events).toEqual([{ type: 'balance', data: { total: 3 } }])
    expect(onReconnect).not.toHaveBeenCalled()

    FakeSocket.all[0].onclose?.({ code: 1006 })
    expect(online).toEqual([true, false])
    vi.advanceTimersByTime(30_000)
    expect(FakeSocket.all).toHaveLength(2)
    FakeSocket.all[1].onopen?.()
    expect(onReconnect).toHaveBeenCalledTimes(1)

    stop()
    expect(FakeSocket.all[1].closed).toBe(true)
    FakeSocket.all[1].onclose?.({ code: 1000 })
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it('renews the token on close code 4001 before reconnecting', async () => {
    let token = 'old'
    const renewToken = vi.fn(async () => {
      token = 'new'
    })
    openSocket(() => token, () => {}, () => {}, { renewToken })
    FakeSocket.all[0].onopen?.()
    FakeSocket.all[0].onclose?.({ code: 4001 })
    expect(renewToken).toHaveBeenCalledTimes(1)
    await vi.runAllTimersAsync()
    expect(FakeSocket.all).toHaveLength(2)
    expect(FakeSocket.all[1].url).toContain('token=new')
  })
})

describe('client heartbeat', () => {
  it('pings, and replaces a socket that stays silent after a ping', () => {
    const onReconnect = vi.fn()
    const online: boolean[] = []
    openSocket(() => 't', () => {}, (o) => online.push(o), { onReconnect, heartbeatMs: 20_000, pongTimeoutMs: 8_000 })
    const first = FakeSocket.all[0]
    first.onopen?.()
    vi.advanceTimersByTime(20_000)
    expect(first.sent).toEqual(['{"type":"ping"}'])
    first.onmessage?.({ data: '{"type":"pong","data":{}}' })
    vi.advanceTimersByTime(10_000)
    expect(first.closed).toBe(false)
    // The network silently died: the next ping gets nothing back.
    vi.advanceTimersByTime(10_000)
    expect(first.sent).toHaveLength(2)
    vi.advanceTimersByTime(8_000)
    expect(first.closed).toBe(true)
    expect(online).toEqual([true, false])
    vi.advanceTimersByTime(5_000)
    expect(FakeSocket.all).toHaveLength(2)
    FakeSocket.all[1].onopen?.()
    expect(onReconnect).toHaveBeenCalledTimes(1)
  })

  it('wakes up at once when asked while disconnected', () => {
    const control = openSocket(() => 't', () => {}, () => {})
    FakeSocket.all[0].onopen?.()
    FakeSocket.all[0].onclose?.({ code: 1006 })
    control.wake()
    vi.advanceTimersByTime(0)
    expect(FakeSocket.all).toHaveLength(2)
    control.wake()
    vi.advanceTimersByTime(0)
    expect(FakeSocket.all).toHaveLength(2)
  })
})

describe('backoffDelay', () => {
  it('doubles from 1 s and caps at 30 s with jitter', () => {
    expect(backoffDelay(1, () => 0.5)).toBe(1000)
    expect(backoffDelay(2, () => 0.5)).toBe(2000)
    expect(backoffDelay(20, () => 0.5)).toBe(30_000)
    expect(backoffDelay(1, () => 0)).toBe(750)
  })
})
