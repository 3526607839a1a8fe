// App state fed by API calls and WebSocket events (balance, job.*, chat.message).
import type { Balance, ChatMessage, Me } from './api'
import { Balance as BalanceSchema } from './api'

export type JobState = {
  status: 'queued' | 'submitted' | 'running' | 'succeeded' | 'failed'
  position?: number
  resultUrl?: string
  watermarked?: boolean
  message?: string
  creditsReturned?: boolean
}

export type State = {
  me: Me | null
  balance: Balance | null
  jobs: Record<string, JobState>
  chat: ChatMessage[]
  online: boolean
}

export type Action =
  | { type: 'me'; me: Me }
  | { type: 'online'; online: boolean }
  | { type: 'chat'; messages: ChatMessage[] }
  | { type: 'event'; event: { type: string; data: Record<string, unknown> } }

export const initialState: State = { me: null, balance: null, jobs: {}, chat: [], online: true }

function mergeJob(jobs: State['jobs'], id: string, patch: Partial<JobState>): State['jobs'] {
  const current = jobs[id] ?? { status: 'queued' }
  // A finished job never goes back to a running state (events may arrive late).
  if ((current.status === 'succeeded' || current.status === 'failed') && patch.status && patch.status !== current.status) {
    return jobs
  }
  return { ...jobs, [id]: { ...current, ...patch } }
}

export function reducer(state: State, action: Action): State {
  switch (action.type) {
    case 'me':
      return { ...state, me: action.me, balance: action.me.balance }
    case 'online':
      return { ...state, online: action.online }
    case 'chat':
      return { ...state, chat: action.messages }
    case 'event': {
      const { type, data } = action.event
      const id = typeof data.generation_id === 'string' ? data.generation_id : ''
      switch (type) {
        case 'balance': {
          // Validated like every API response; a malformed frame leaves the balance as it was.
          const parsed = BalanceSchema.safeParse(data)
          return parsed.success ? { ...state, balance: parsed.data } : state
        }
        case 'job.queued':
          return { ...state, jobs: mergeJob(state.jobs, id, { status: 'queued', position: Number(data.position ?? 1) }) }
        case 'job.progress':
          return {
            ...state,
            jobs: mergeJob(state.jobs, id, { status: data.stage === 'generating' ? 'running' : 'submitted' }),
          }
        case 'job.succeeded':
          return {
            ...state,
            jobs: mergeJob(state.jobs, id, {
              status: 'succeeded',
              resultUrl: String(data.result_url ?? data.image ?? ''),
              watermarked: Boolean(data.watermarked),
            }),
          }
        case 'job.failed':
          return {
            ...state,
            jobs: mergeJob(state.jobs, id, {
              status: 'failed',
              message: String(data.message ?? ''),
              creditsReturned: Boolean(data.credits_returned ?? data.refunded),
            }),
          }
        case 'chat.message': {
          const message = data as unknown as ChatMessage
          if (state.chat.some((m) => m.id === message.id)) return state
          return { ...state, chat: [...state.chat, { ...message, variants: message.variants ?? [] }] }
        }
        default:
          return state
      }
    }
  }
}
