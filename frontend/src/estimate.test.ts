import { describe, expect, it } from 'vitest'
import { jobEstimate, typicalSeconds } from './components/JobProgress'
import type { Generation } from './api'

const job = (status: Generation['status'], seconds: number | null): Generation => ({
  id: `g${Math.random()}`,
  kind: 'tryon',
  status,
  watermarked: false,
  cost: 2,
  refunded: false,
  created_at: '2026-12-03T10:00:00Z',
  finished_at: seconds === null ? null : new Date(Date.parse('2026-12-03T10:00:00Z') + seconds * 1000).toISOString(),
})

describe('the time estimate', () => {
  it('is the median of the recent successful jobs, ignoring failures and unfinished ones', () => {
    expect(typicalSeconds([job('succeeded', 20), job('succeeded', 40), job('succeeded', 30), job('failed', 300), job('running', null)])).toBe(30)
    expect(typicalSeconds([job('succeeded', 20)])).toBeNull()
    expect(typicalSeconds([])).toBeNull()
  })

  it('follows the recent jobs when there are some, and the usual figures otherwise', () => {
    expect(jobEstimate({ status: 'queued', position: 1 })).toBe(30)
    expect(jobEstimate({ status: 'queued', position: 3 })).toBe(60)
    expect(jobEstimate({ status: 'running' })).toBe(20)
    expect(jobEstimate({ status: 'queued', position: 1 }, 100)).toBe(60)
    expect(jobEstimate({ status: 'running' }, 100)).toBe(40)
    expect(jobEstimate({ status: 'running', stage: 'finishing' }, 100)).toBe(5)
  })
})
