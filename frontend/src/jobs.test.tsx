import { renderHook, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { useJobSync } from './jobs'
import type { State } from './state'
import { jsonReply } from './test/render'

afterEach(() => vi.restoreAllMocks())

const gen = (id: string, status: string, kind = 'tryon') => ({ id, kind, status, watermarked: false, cost: 2, refunded: false, created_at: '' })

describe('useJobSync', () => {
  it('re-reads unfinished jobs and asks how the ones no longer active ended', async () => {
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
      const url = String(input)
      if (url.startsWith('/api/generations?active=1')) return jsonReply(200, { items: [gen('b', 'running')], next_cursor: null })
      if (url === '/api/generations/a') return jsonReply(200, { ...gen('a', 'succeeded', 'edit'), result_url: '/media/a' })
      return jsonReply(404, {})
    })
    const dispatch = vi.fn()
    const refreshMe = vi.fn(async () => undefined)
    const reloadChat = vi.fn(async () => undefined)
    // The frame that said "a" succeeded was lost: the app still thinks it runs.
    const jobs: State['jobs'] = { a: { status: 'running', kind: 'edit' } }
    renderHook(() => useJobSync({ jobs, dispatch, refreshMe, reloadChat, enabled: true }))
    await waitFor(() => expect(dispatch).toHaveBeenCalled())
    const read = dispatch.mock.calls[0][0]
    expect(read.type).toBe('jobs/read')
    expect(read.generations.map((g: { id: string; status: string }) => [g.id, g.status])).toEqual([
      ['b', 'running'],
      ['a', 'succeeded'],
    ])
    await waitFor(() => expect(reloadChat).toHaveBeenCalled())
    expect(refreshMe).toHaveBeenCalled()
    expect(fetchMock).toHaveBeenCalledWith('/api/generations/a', expect.anything())
  })

  it('polls while a job is unfinished', async () => {
    vi.useFakeTimers()
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(() => jsonReply(200, { items: [gen('b', 'running')], next_cursor: null }))
    const jobs: State['jobs'] = { b: { status: 'running', kind: 'tryon' } }
    renderHook(() => useJobSync({ jobs, dispatch: vi.fn(), refreshMe: vi.fn(), reloadChat: vi.fn(), enabled: true }))
    await vi.advanceTimersByTimeAsync(12_500)
    expect(fetchMock.mock.calls.length).toBeGreaterThanOrEqual(3)
    vi.useRealTimers()
  })
})
