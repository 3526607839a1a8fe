// App state fed by API calls and WebSocket events (balance, job.*, chat.message). It outlives
// every screen: jobs, the photos chosen for a try-on and the editor's draft survive switching tabs.
import type { Balance, ChatMessage, Generation, Me, Upload } from './api'
import { Balance as BalanceSchema } from './api'

export type JobStatus = 'queued' | 'submitted' | 'running' | 'succeeded' | 'failed'
export type JobKind = 'tryon' | 'edit'

export type JobState = {
  status: JobStatus
  kind?: JobKind
  /** `finishing` once the result is being stored (from `job.progress`). */
  stage?: string
  position?: number
  resultUrl?: string
  watermarked?: boolean
  message?: string
  /** Why it failed (`canceled`, `generation_failed`, …). */
  code?: string
  creditsReturned?: boolean
  /** The user has seen how it ended (on its own screen). */
  seen?: boolean
}

/** The try-on quiz's steps: You → What → Items → Check & pay. */
export type QuizStep = 'you' | 'what' | 'items' | 'check'
export const QUIZ_STEPS: QuizStep[] = ['you', 'what', 'items', 'check']

export type TryOnDraft = {
  step: QuizStep
  person: Upload | null
  garments: Upload[]
  /** A category id from `GET /api/tryon/categories`; '' until chosen. */
  category: string
  /** The try-on started from this form (its progress and result show on the screen). */
  jobId: string | null
}

export type EditorDraft = {
  text: string
  attached: Upload | null
}

export type State = {
  me: Me | null
  balance: Balance | null
  jobs: Record<string, JobState>
  chat: ChatMessage[]
  /** The picture the next edit applies to (`GET /api/chat` `current_image`). */
  chatImage: string | null
  online: boolean
  tryon: TryOnDraft
  editor: EditorDraft
}

export type Action =
  | { type: 'me'; me: Me }
  | { type: 'online'; online: boolean }
  | { type: 'chat'; messages: ChatMessage[]; image?: string | null }
  | { type: 'event'; event: { type: string; data: Record<string, unknown> } }
  | { type: 'job/track'; id: string; kind: JobKind }
  | { type: 'job/seen'; id: string }
  | { type: 'jobs/read'; generations: Generation[] }
  | { type: 'tryon'; patch: Partial<TryOnDraft> }
  | { type: 'editor'; patch: Partial<EditorDraft> }

export const initialState: State = {
  me: null,
  balance: null,
  jobs: {},
  chat: [],
  chatImage: null,
  online: true,
  tryon: { step: 'you', person: null, garments: [], category: '', jobId: null },
  editor: { text: '', attached: null },
}

export function isFinished(status: JobStatus | undefined): boolean {
  return status === 'succeeded' || status === 'failed'
}

function mergeJob(jobs: State['jobs'], id: string, patch: Partial<JobState>): State['jobs'] {
  if (!id) return jobs
  const current = jobs[id] ?? { status: 'queued' }
  // A finished job never goes back to a running state (events may arrive late).
  if (isFinished(current.status) && patch.status && patch.status !== current.status) return jobs
  return { ...jobs, [id]: { ...current, ...patch } }
}

/** A generation read through REST, as the job state the WebSocket events build. */
export function jobFromGeneration(g: Generation): Partial<JobState> {
  const kind = g.kind === 'edit' ? 'edit' : 'tryon'
  switch (g.status) {
    case 'succeeded':
      return { kind, status: 'succeeded', resultUrl: g.result_url ?? '', watermarked: g.watermarked }
    case 'failed':
      return {
        kind,
        status: 'failed',
        message: g.error?.message ?? '',
        code: g.error?.code,
        creditsReturned: g.error?.credits_returned ?? g.refunded,
      }
    case 'queued':
      return { kind, status: 'queued' }
    case 'running':
      return { kind, status: g.stage === 'generating' || !g.stage ? 'running' : 'submitted' }
    default:
      return { kind, status: 'submitted' }
  }
}

export function reducer(state: State, action: Action): State {
  switch (action.type) {
    case 'me':
      return { ...state, me: action.me, balance: action.me.balance }
    case 'online':
      return { ...state, online: action.online }
    case 'chat':
      return { ...state, chat: action.messages, chatImage: action.image === undefined ? state.chatImage : action.image }
    case 'job/track':
      return { ...state, jobs: mergeJob(state.jobs, action.id, { kind: action.kind }) }
    case 'job/seen':
      return state.jobs[action.id] ? { ...state, jobs: mergeJob(state.jobs, action.id, { seen: true }) } : state
    case 'jobs/read': {
      let jobs = state.jobs
      for (const g of action.generations) jobs = mergeJob(jobs, g.id, jobFromGeneration(g))
      return jobs === state.jobs ? state : { ...state, jobs }
    }
    case 'tryon':
      return { ...state, tryon: { ...state.tryon, ...action.patch } }
    case 'editor':
      return { ...state, editor: { ...state.editor, ...action.patch } }
    case 'event':
      return applyEvent(state, action.event)
  }
}

function applyEvent(state: State, { type, data }: { type: string; data: Record<string, unknown> }): State {
  const id = typeof data.generation_id === 'string' ? data.generation_id : ''
  const kind = data.kind === 'edit' || data.kind === 'tryon' ? { kind: data.kind as JobKind } : {}
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
        jobs: mergeJob(state.jobs, id, {
          status: data.stage === 'generating' || data.stage === 'finishing' ? 'running' : 'submitted',
          stage: typeof data.stage === 'string' ? data.stage : undefined,
        }),
      }
    case 'job.succeeded':
      return {
        ...state,
        jobs: mergeJob(state.jobs, id, {
          ...kind,
          status: 'succeeded',
          resultUrl: String(data.result_url ?? data.image ?? ''),
          watermarked: Boolean(data.watermarked),
        }),
      }
    case 'job.failed':
      return {
        ...state,
        jobs: mergeJob(state.jobs, id, {
          ...kind,
          status: 'failed',
          message: String(data.message ?? ''),
          code: typeof data.code === 'string' ? data.code : undefined,
          creditsReturned: Boolean(data.credits_returned ?? data.refunded),
        }),
      }
    case 'chat.message': {
      const message = data as unknown as ChatMessage
      if (state.chat.some((m) => m.id === message.id)) return state
      const image = message.kind === 'image' && message.image_url ? message.image_url : state.chatImage
      return { ...state, chat: [...state.chat, { ...message, variants: message.variants ?? [] }], chatImage: image }
    }
    default:
      return state
  }
}
