// The try-on quiz's draft survives closing and reopening the Mini App. It is kept in two places:
// - Telegram's CloudStorage (inside Telegram 6.9+): kept by Telegram per user, so it survives a
//   WebView that lost its localStorage and follows the user to another device. Writes are
//   coalesced (one write per burst of changes, sent at once when the app goes to the background)
//   and never hold the quiz up: a failing or silent CloudStorage only costs that copy.
// - localStorage (per user): the fast local copy, and the only one in a plain browser.
// The stored JSON holds ids, never signed links (they expire, and CloudStorage takes 4096
// characters): step, upload ids, category, job id and `updatedAt`. On open both are read (the
// cloud for at most 1.5 s) and the newer one wins; its photos are then matched against the
// server's lists (`GET /api/uploads?kind=`) for fresh links, and photos that are gone are dropped.
import { api, type Upload } from './api'
import { QUIZ_STEPS, type QuizStep, type TryOnDraft } from './state'
import { CLOUD_VALUE_MAX, cloudStorage, onBackground } from './telegram'

const localKey = (user: number) => `primerka.quiz.${user}`
/** Telegram keeps CloudStorage per user (and bot): one key is the user's. */
export const CLOUD_KEY = 'quiz_draft'
/** A burst of changes (a photo picked, a step taken) becomes one CloudStorage write. */
export const CLOUD_WRITE_DELAY_MS = 600
/** How long opening the quiz waits for CloudStorage before the local copy is used. */
export const CLOUD_READ_TIMEOUT_MS = 1500
const CLOUD_WRITE_TIMEOUT_MS = 10_000
const MAX_GARMENTS = 4

/** The draft as stored: ids only. `updatedAt` (ms) is 0 for drafts written before it existed. */
export type StoredQuiz = {
  step: QuizStep
  person: string | null
  garments: string[]
  category: string
  jobId: string | null
  updatedAt: number
}

type Content = Omit<StoredQuiz, 'updatedAt'>

function content(draft: TryOnDraft): Content {
  return {
    step: draft.step,
    person: draft.person?.upload_id ?? null,
    garments: draft.garments.slice(0, MAX_GARMENTS).map((g) => g.upload_id),
    category: draft.category,
    jobId: draft.jobId,
  }
}

const contentKey = (c: Content) => JSON.stringify([c.step, c.person, c.garments, c.category, c.jobId])

/** Reads a stored draft: this format, or the earlier one that held whole uploads (with links)
 *  and no `updatedAt`. Anything unreadable is no draft. */
export function parseQuiz(raw: string | null): StoredQuiz | null {
  if (!raw) return null
  try {
    const data = JSON.parse(raw) as Record<string, unknown> | null
    if (!data || typeof data !== 'object' || Array.isArray(data)) return null
    const id = (value: unknown): string | null => {
      if (typeof value === 'string' && value) return value
      const upload = value as { upload_id?: unknown } | null
      return upload && typeof upload === 'object' && typeof upload.upload_id === 'string' ? upload.upload_id : null
    }
    const garments = Array.isArray(data.garments) ? data.garments.map(id).filter((g): g is string => g !== null) : []
    return {
      step: QUIZ_STEPS.includes(data.step as QuizStep) ? (data.step as QuizStep) : 'you',
      person: id(data.person),
      garments: garments.slice(0, MAX_GARMENTS),
      category: typeof data.category === 'string' ? data.category : '',
      jobId: typeof data.jobId === 'string' ? data.jobId : null,
      updatedAt: typeof data.updatedAt === 'number' && Number.isFinite(data.updatedAt) ? data.updatedAt : 0,
    }
  } catch {
    return null
  }
}

/** The newer of two drafts (the local one on a tie). */
export function newerQuiz(local: StoredQuiz | null, cloud: StoredQuiz | null): StoredQuiz | null {
  if (!local) return cloud
  if (!cloud) return local
  return cloud.updatedAt > local.updatedAt ? cloud : local
}

function writeLocal(user: number, value: string): void {
  try {
    localStorage.setItem(localKey(user), value)
  } catch {
    // Storage full or disabled: the draft still lives for this session (and in the cloud).
  }
}

// ---- CloudStorage writes: the newest value wins, one call at a time, in order ------------------

/** What CloudStorage should hold next: a value, or nothing (null removes the key). */
let pending: { value: string | null } | null = null
let timer: ReturnType<typeof setTimeout> | undefined
let inFlight: Promise<void> | null = null
let flushOnBackground = false

function queueCloud(value: string | null, delay: number): void {
  if (!cloudStorage.available()) return
  if (!flushOnBackground) {
    flushOnBackground = true
    // Closing the Mini App right after a change still sends it.
    onBackground(() => void flushQuiz())
  }
  pending = { value }
  clearTimeout(timer)
  timer = setTimeout(() => void flushQuiz(), delay)
}

/** Sends the pending CloudStorage write now (after the one in flight). Never rejects. */
export function flushQuiz(): Promise<void> {
  clearTimeout(timer)
  timer = undefined
  if (inFlight) return inFlight.then(flushQuiz)
  const write = pending
  if (!write) return Promise.resolve()
  pending = null
  const call = write.value === null ? cloudStorage.remove(CLOUD_KEY, CLOUD_WRITE_TIMEOUT_MS) : cloudStorage.set(CLOUD_KEY, write.value, CLOUD_WRITE_TIMEOUT_MS)
  inFlight = call
    // A failed write costs only the cloud copy: the local one holds the draft, and the next
    // change (or the next opening, when the local copy is newer) writes it again.
    .catch(() => undefined)
    .finally(() => {
      inFlight = null
    })
  return inFlight
}

// ---- the draft ---------------------------------------------------------------------------------

/** What was last stored per user (without the time), so an unchanged draft is not written again. */
const lastStored = new Map<number, string>()

/** Stores the draft in localStorage now and in CloudStorage shortly. An untouched draft (the
 *  quiz's start) is not stored: it would hide a draft another device keeps. */
export function saveQuiz(user: number, draft: TryOnDraft): void {
  const c = content(draft)
  if (!c.person && c.garments.length === 0 && !c.category && !c.jobId && c.step === 'you') return
  const key = contentKey(c)
  if (lastStored.get(user) === key) return
  lastStored.set(user, key)
  const value = JSON.stringify({ ...c, updatedAt: Date.now() })
  writeLocal(user, value)
  // Ids only keep it far below the limit; a value that did not fit would be refused anyway.
  if (value.length <= CLOUD_VALUE_MAX) queueCloud(value, CLOUD_WRITE_DELAY_MS)
}

/** Forgets the draft everywhere (local copy and CloudStorage), e.g. when the user deletes their data. */
export function clearQuiz(user: number): Promise<void> {
  lastStored.delete(user)
  try {
    localStorage.removeItem(localKey(user))
  } catch {
    /* storage disabled: nothing was kept */
  }
  if (!cloudStorage.available()) return Promise.resolve()
  queueCloud(null, 0)
  return flushQuiz()
}

/** The local copy, as stored (ids, not yet matched against the server), or null. */
export function storedQuiz(user: number): StoredQuiz | null {
  try {
    return parseQuiz(localStorage.getItem(localKey(user)))
  } catch {
    return null
  }
}

/** Whether opening the quiz has anything to wait for (a local copy, or a CloudStorage to ask). */
export function mayHaveQuiz(user: number): boolean {
  return storedQuiz(user) !== null || cloudStorage.available()
}

/** The newer of the local copy and CloudStorage's (asked for at most `CLOUD_READ_TIMEOUT_MS`;
 *  on an error or no answer, the local copy). The copies are brought in line: a newer cloud draft
 *  becomes the local copy, a newer local one is written to the cloud. */
export async function readQuiz(user: number): Promise<StoredQuiz | null> {
  const local = storedQuiz(user)
  let cloud: StoredQuiz | null = null
  if (cloudStorage.available()) {
    try {
      cloud = parseQuiz(await cloudStorage.get(CLOUD_KEY, CLOUD_READ_TIMEOUT_MS))
    } catch {
      // Slow or failing: the local copy it is.
    }
  }
  const newest = newerQuiz(local, cloud)
  if (!newest) return null
  const value = JSON.stringify(newest)
  if (newest === cloud) writeLocal(user, value)
  // A cloud that holds an older draft missed a write; one that holds none may have been cleared
  // on another device, so the local copy is not pushed there until it changes.
  else if (cloud && newest.updatedAt > cloud.updatedAt && value.length <= CLOUD_VALUE_MAX) queueCloud(value, 0)
  lastStored.set(user, contentKey(newest))
  return newest
}

/** The stored draft with fresh links; photos the server no longer has are dropped (and the
 *  quiz goes back to the step that needs them). */
export async function restoreQuiz(user: number): Promise<TryOnDraft | null> {
  const stored = await readQuiz(user)
  if (!stored) return null
  const { category, jobId } = stored
  const needed = stored.person !== null || stored.garments.length > 0
  const [people, wardrobe] = needed ? await Promise.all([api.uploads('person'), api.uploads('garment')]) : [{ items: [] }, { items: [] }]
  const fresh = (id: string | null, list: Upload[]) => (id ? (list.find((x) => x.upload_id === id) ?? null) : null)
  const person = fresh(stored.person, people.items)
  const garments = stored.garments.map((id) => fresh(id, wardrobe.items)).filter((g): g is Upload => g !== null)
  let step = stored.step
  if (!person) step = 'you'
  else if (garments.length === 0 && (step === 'items' || step === 'check')) step = 'items'
  return { step, person, garments, category, jobId }
}
