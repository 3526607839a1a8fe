// Jobs are app-wide state. WebSocket frames are the fast path, but one lost frame once froze a
// screen at "40 %" while the server had finished: the unfinished jobs are re-read through REST
// at start, after every reconnect, when the app returns to the foreground, and every few seconds
// while any job is unfinished.
import { useCallback, useEffect, useRef } from 'react'
import type { Dispatch } from 'react'
import { api, type Generation } from './api'
import { isFinished, type Action, type State } from './state'

/** How often unfinished jobs are re-read while one runs. */
export const POLL_MS = 4000

export function hasUnfinished(jobs: State['jobs']): boolean {
  return Object.values(jobs).some((j) => !isFinished(j.status))
}

type Options = {
  jobs: State['jobs']
  dispatch: Dispatch<Action>
  /** Balance and plan (a job that ended while frames were lost may have refunded credits). */
  refreshMe: () => Promise<void>
  /** The editor chat (an edit that ended while frames were lost added a picture to it). */
  reloadChat: () => Promise<void>
  /** False until logged in. */
  enabled: boolean
}

/** Re-reads unfinished jobs; returns the function that does it now (for reconnects). */
export function useJobSync({ jobs, dispatch, refreshMe, reloadChat, enabled }: Options): () => Promise<void> {
  const known = useRef(jobs)
  useEffect(() => {
    known.current = jobs
  }, [jobs])
  const running = useRef(false)
  const again = useRef(false)

  const sync = useCallback(async (): Promise<void> => {
    // One re-read at a time; a request meanwhile (a reconnect, the foreground) runs once after it.
    if (running.current) {
      again.current = true
      return
    }
    running.current = true
    again.current = false
    try {
      const active = (await api.activeGenerations()).items
      const activeIds = new Set(active.map((g) => g.id))
      // Known jobs that are no longer active have ended: read how.
      const ended = Object.entries(known.current).filter(([id, j]) => !isFinished(j.status) && !activeIds.has(id))
      const finished: Generation[] = []
      for (const [id] of ended) {
        try {
          finished.push(await api.generation(id))
        } catch {
          /* deleted meanwhile, or offline: the next round tries again */
        }
      }
      dispatch({ type: 'jobs/read', generations: [...active, ...finished] })
      if (finished.some((g) => isFinished(g.status))) await refreshMe().catch(() => undefined)
      if (finished.some((g) => g.kind === 'edit' && g.status === 'succeeded')) await reloadChat().catch(() => undefined)
    } catch {
      /* offline: the next round (or the reconnect) tries again */
    } finally {
      running.current = false
    }
    if (again.current) return sync()
  }, [dispatch, refreshMe, reloadChat])

  useEffect(() => {
    if (enabled) void sync()
  }, [enabled, sync])

  const polling = enabled && hasUnfinished(jobs)
  useEffect(() => {
    if (!polling) return
    const timer = setInterval(() => void sync(), POLL_MS)
    return () => clearInterval(timer)
  }, [polling, sync])

  return sync
}
