import { describe, expect, it } from 'vitest'
import { initialState, reducer } from './state'

const ev = (type: string, data: Record<string, unknown>) => ({ type: 'event' as const, event: { type, data } })

describe('reducer', () => {
  it('follows a job from queued to succeeded', () => {
    let s = reducer(initialState, ev('job.queued', { generation_id: 'g', position: 3 }))
    expect(s.jobs.g).toMatchObject({ status: 'queued', position: 3 })
    s = reducer(s, ev('job.progress', { generation_id: 'g', stage: 'generating' }))
    expect(s.jobs.g.status).toBe('running')
    s = reducer(s, ev('job.succeeded', { generation_id: 'g', result_url: '/media/x', watermarked: true }))
    expect(s.jobs.g).toMatchObject({ status: 'succeeded', resultUrl: '/media/x', watermarked: true })
  })

  it('never reopens a finished job when a late event arrives', () => {
    let s = reducer(initialState, ev('job.failed', { generation_id: 'g', message: 'm', credits_returned: true }))
    s = reducer(s, ev('job.progress', { generation_id: 'g', stage: 'submitted' }))
    expect(s.jobs.g).toMatchObject({ status: 'failed', creditsReturned: true })
  })

  it('updates the balance and de-duplicates chat messages', () => {
    const balance = { free: 5, subscription: 0, purchased: 3, total: 8 }
    let s = reducer(initialState, ev('balance', balance))
    expect(s.balance?.total).toBe(8)
    const msg = { id: 'm1', role: 'assistant', kind: 'text', text: 'hi', variants: [], created_at: '' }
    s = reducer(s, ev('chat.message', msg))
    s = reducer(s, ev('chat.message', msg))
    expect(s.chat).toHaveLength(1)
  })
})

describe('reducer input checks', () => {
  it('ignores a malformed balance frame and accepts the documented alternative field names', () => {
    let s = reducer(initialState, ev('balance', { free: 5, subscription: 0, purchased: 3, total: 8 }))
    s = reducer(s, ev('balance', { total: 'lots' }))
    expect(s.balance?.total).toBe(8)
    s = reducer(s, ev('job.succeeded', { generation_id: 'a', image: '/media/a', watermarked: false }))
    expect(s.jobs.a.resultUrl).toBe('/media/a')
    s = reducer(s, ev('job.failed', { generation_id: 'b', code: 'provider_failed', message: 'm', refunded: true }))
    expect(s.jobs.b.creditsReturned).toBe(true)
  })
})

describe('app-wide jobs and drafts', () => {
  const generation = (id: string, status: string, extra: Record<string, unknown> = {}) =>
    ({ id, kind: 'tryon', status, watermarked: false, cost: 2, refunded: false, created_at: '', ...extra }) as never

  it('takes job state read through REST and never reopens a finished job', () => {
    let s = reducer(initialState, { type: 'job/track', id: 'a', kind: 'tryon' })
    s = reducer(s, { type: 'jobs/read', generations: [generation('a', 'running', { stage: 'generating' })] })
    expect(s.jobs.a).toMatchObject({ status: 'running', kind: 'tryon' })
    s = reducer(s, { type: 'jobs/read', generations: [generation('a', 'succeeded', { result_url: '/media/r' })] })
    expect(s.jobs.a).toMatchObject({ status: 'succeeded', resultUrl: '/media/r' })
    s = reducer(s, { type: 'jobs/read', generations: [generation('a', 'running')] })
    expect(s.jobs.a.status).toBe('succeeded')
    s = reducer(s, { type: 'job/seen', id: 'a' })
    expect(s.jobs.a.seen).toBe(true)
  })

  it('keeps the try-on form and the editor draft, and follows the chat’s current picture', () => {
    let s = reducer(initialState, { type: 'tryon', patch: { category: 'shoes', jobId: 'j' } })
    s = reducer(s, { type: 'editor', patch: { text: 'фон' } })
    expect(s.tryon).toMatchObject({ category: 'shoes', jobId: 'j', garments: [] })
    expect(s.editor.text).toBe('фон')
    s = reducer(s, { type: 'chat', messages: [], image: '/media/u' })
    s = reducer(s, ev('chat.message', { id: 'm', role: 'assistant', kind: 'image', image_url: '/media/r', variants: [], created_at: '' }))
    expect(s.chatImage).toBe('/media/r')
  })
})
