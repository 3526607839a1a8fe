// The try-on quiz's draft survives closing and reopening the Mini App: it is kept in
// localStorage (per user; Telegram's WebView keeps it like a browser does) and, when read back,
// its photos are matched against the server's lists so expired links are renewed and photos that
// are gone are dropped.
import { api, type Upload } from './api'
import { QUIZ_STEPS, type QuizStep, type TryOnDraft } from './state'

const key = (user: number) => `primerka.quiz.${user}`

export function saveQuiz(user: number, draft: TryOnDraft): void {
  try {
    localStorage.setItem(key(user), JSON.stringify(draft))
  } catch {
    // Storage full or disabled: the draft still lives for this session.
  }
}

/** The stored draft, as it was written (links not yet renewed), or null. */
export function storedQuiz(user: number): TryOnDraft | null {
  try {
    const raw = localStorage.getItem(key(user))
    if (!raw) return null
    const draft = JSON.parse(raw) as Partial<TryOnDraft>
    const step: QuizStep = QUIZ_STEPS.includes(draft.step as QuizStep) ? (draft.step as QuizStep) : 'you'
    return {
      step,
      person: draft.person ?? null,
      garments: Array.isArray(draft.garments) ? draft.garments.slice(0, 4) : [],
      category: typeof draft.category === 'string' ? draft.category : '',
      jobId: typeof draft.jobId === 'string' ? draft.jobId : null,
    }
  } catch {
    return null
  }
}

/** The stored draft with fresh links; photos the server no longer has are dropped (and the
 *  quiz goes back to the step that needs them). */
export async function restoreQuiz(user: number): Promise<TryOnDraft | null> {
  const draft = storedQuiz(user)
  if (!draft) return null
  if (!draft.person && draft.garments.length === 0) return draft
  const [people, wardrobe] = await Promise.all([api.uploads('person'), api.uploads('garment')])
  const fresh = (u: Upload | null, list: Upload[]) => (u ? (list.find((x) => x.upload_id === u.upload_id) ?? null) : null)
  const person = fresh(draft.person, people.items)
  const garments = draft.garments.map((g) => fresh(g, wardrobe.items)).filter((g): g is Upload => g !== null)
  let step = draft.step
  if (!person) step = 'you'
  else if (garments.length === 0 && (step === 'items' || step === 'check')) step = 'items'
  return { ...draft, person, garments, step }
}
