import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { backoffDelay, openSocket, type ServerEvent } from './socket'

class FakeSocket {
  static all: FakeSocket[] = []
  onopen: (() => void) | null = null
  onmessage: ((m: { data: string }) => void) | null = null
  onclose: ((e: { code: number }) => void) | null = null
  closed = false
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
  it('delivers events, reconnects with backoff and catches up after a reconnect', () => {
    const events: ServerEvent[] = []
    const online: boolean[] = []
    const onReconnect = vi.fn()
    const stop = openSocket(() => 'tok en', (e) => events.push(e), (o) => online.push(o), { onReconnect })
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

describe('backoffDelay', () => {
  it('doubles from 1 s and caps at 30 s with jitter', () => {
    expect(backoffDelay(1, () => 0.5)).toBe(1000)
    expect(backoffDelay(2, () => 0.5)).toBe(2000)
    expect(backoffDelay(20, () => 0.5)).toBe(30_000)
    expect(backoffDelay(1, () => 0)).toBe(750)
  })
})
