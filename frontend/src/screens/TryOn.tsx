import { useState } from 'react'
import { api, type Upload } from '../api'
import { useApp } from '../app-context'
import { JobProgress } from '../components/JobProgress'
import { PhotoPicker } from '../components/PhotoPicker'
import { Button, Card, ErrorBox, SectionTitle } from '../components/ui'
import { isFinished } from '../state'
import { haptic, useMainButton } from '../telegram'

// The categories the server's prompt template knows (src/http/generations.rs CATEGORIES).
const CATEGORIES = ['top', 'bottom', 'dress', 'outerwear', 'shoes', 'headwear', 'glasses', 'bag', 'jewellery', 'other']
/** Items per look (the API takes 1..4 garment uploads). */
const MAX_GARMENTS = 4

/** The try-on form. Its photos, category and running job live in the app state, so switching
 *  tabs loses nothing. */
export function TryOn() {
  const { state, dispatch, t, go } = useApp()
  const { person, garments, category, jobId } = state.tryon
  const set = (patch: Partial<typeof state.tryon>) => dispatch({ type: 'tryon', patch })
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const cost = state.me?.prices.tryon ?? 2
  const balance = state.balance?.total ?? 0
  const short = balance < cost
  const job = jobId ? state.jobs[jobId] : undefined
  const ready = Boolean(person) && garments.length > 0 && !busy && !short

  const start = async () => {
    if (!person || garments.length === 0 || busy) return
    setBusy(true)
    setError(null)
    try {
      const accepted = await api.tryon(
        person.upload_id,
        garments.map((g) => g.upload_id),
        category,
      )
      dispatch({ type: 'job/track', id: accepted.generation_id, kind: 'tryon' })
      set({ jobId: accepted.generation_id })
      haptic('light')
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  // A new look with the same person photo.
  const again = () => set({ jobId: null, garments: [] })

  const mode = jobId ? (isFinished(job?.status) ? 'done' : 'running') : short ? 'short' : 'form'
  const main = {
    form: { text: t.startTryon(cost), run: () => void start(), enabled: ready },
    short: { text: t.topUp, run: () => go('plans'), enabled: true },
    done: { text: t.newTryon, run: again, enabled: true },
    running: { text: t.startTryon(cost), run: () => undefined, enabled: false },
  }[mode]
  const native = useMainButton(main.text, main.run, { visible: mode !== 'running', enabled: main.enabled, progress: busy })

  if (jobId) {
    return (
      <div className="flex flex-col gap-3">
        <JobProgress id={jobId} onDone={again} />
        {mode === 'done' && !native && <Button onClick={again}>{t.newTryon}</Button>}
      </div>
    )
  }

  return (
    <div className="flex flex-col gap-3">
      {short && (
        <Card testId="tryon-short">
          <p className="font-medium text-danger">{t.notEnough}</p>
          <p className="mt-1 text-sm">{t.notEnoughFor(cost, balance)}</p>
          {!native && (
            <div className="mt-3">
              <Button testId="short-to-plans" onClick={() => go('plans')}>
                {t.topUp}
              </Button>
            </div>
          )}
        </Card>
      )}
      <div className="grid grid-cols-2 gap-3">
        <PhotoPicker label={t.personPhoto} value={person} onChange={(u) => set({ person: u })} testId="person" />
        {[...garments, null].slice(0, MAX_GARMENTS).map((g, i) => (
          <PhotoPicker
            key={g?.upload_id ?? 'new'}
            label={i === 0 ? t.garmentPhotos : `${t.garmentPhotos} ${i + 1}`}
            value={g}
            onChange={(u: Upload | null) =>
              set({ garments: u ? (g ? garments.map((x) => (x === g ? u : x)) : [...garments, u]) : garments.filter((x) => x !== g) })
            }
            testId={i === 0 ? 'garment' : `garment-${i + 1}`}
          />
        ))}
      </div>
      <p className="px-1 text-sm text-hint">
        {t.personHint}. {t.garmentHint}.
      </p>
      <SectionTitle>{t.category}</SectionTitle>
      <div className="flex flex-wrap gap-2" role="group" aria-label={t.category}>
        {CATEGORIES.map((c) => (
          <button
            key={c}
            type="button"
            aria-pressed={category === c}
            onClick={() => set({ category: c })}
            className={`min-h-11 rounded-full px-4 text-sm ${category === c ? 'bg-accent text-accent-text' : 'bg-section'}`}
          >
            {t.categories[c]}
          </button>
        ))}
      </div>
      <p className="px-1 text-sm text-hint" data-testid="tryon-cost">
        {t.costAndBalance(cost, balance)}
      </p>
      {error !== null && <ErrorBox error={error} />}
      {!native && !short && (
        <Button testId="start-tryon" disabled={!ready} onClick={() => void start()}>
          {t.startTryon(cost)}
        </Button>
      )}
    </div>
  )
}
