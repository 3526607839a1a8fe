import { useRef, useState } from 'react'
import { api, type Upload } from '../api'
import { useApp } from '../app-context'
import { JobProgress } from '../components/JobProgress'
import { PhotoPicker } from '../components/PhotoPicker'
import { Button, ErrorBox } from '../components/ui'
import { haptic, useMainButton } from '../telegram'

// The categories the server's prompt template knows (src/http/generations.rs CATEGORIES).
const CATEGORIES = ['top', 'bottom', 'dress', 'outerwear', 'shoes', 'headwear', 'glasses', 'bag', 'jewellery', 'other']
/** Items per look (the API takes 1..4 garment uploads). */
const MAX_GARMENTS = 4

export function TryOn() {
  const { state, t } = useApp()
  const [person, setPerson] = useState<Upload | null>(null)
  const [garments, setGarments] = useState<Upload[]>([])
  const [category, setCategory] = useState('top')
  const [jobId, setJobId] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const cost = state.me?.prices.tryon ?? 2
  const ready = Boolean(person) && garments.length > 0 && !busy
  const onMainButton = useMainButton(t.startTryon(cost), () => void startRef.current(), {
    visible: !jobId,
    enabled: ready,
    progress: busy,
  })
  const startRef = useRef<() => Promise<void>>(async () => undefined)

  if (jobId) {
    return (
      <JobProgress
        id={jobId}
        onDone={() => {
          setJobId(null)
          setGarments([])
        }}
      />
    )
  }

  const start = async () => {
    if (!person || garments.length === 0) return
    setBusy(true)
    setError(null)
    try {
      const accepted = await api.tryon(
        person.upload_id,
        garments.map((g) => g.upload_id),
        category,
      )
      haptic('success')
      setJobId(accepted.generation_id)
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  startRef.current = start

  return (
    <div className="flex flex-col gap-4">
      <div className="grid grid-cols-2 gap-3">
        <PhotoPicker label={t.personPhoto} hint="" value={person} onChange={setPerson} testId="person" />
        {[...garments, null].slice(0, MAX_GARMENTS).map((g, i) => (
          <PhotoPicker
            key={g?.upload_id ?? 'new'}
            label={i === 0 ? t.garmentPhotos : `${t.garmentPhotos} ${i + 1}`}
            hint=""
            value={g}
            onChange={(u) =>
              setGarments((list) => (u ? (g ? list.map((x) => (x === g ? u : x)) : [...list, u]) : list.filter((x) => x !== g)))
            }
            testId={i === 0 ? 'garment' : `garment-${i + 1}`}
          />
        ))}
      </div>
      <p className="text-xs text-hint">
        {t.personHint}. {t.garmentHint}.
      </p>
      <fieldset>
        <legend className="mb-2 font-medium">{t.category}</legend>
        <div className="flex flex-wrap gap-2">
          {CATEGORIES.map((c) => (
            <button
              key={c}
              type="button"
              aria-pressed={category === c}
              onClick={() => setCategory(c)}
              className={`rounded-full px-3 py-1.5 text-sm ${category === c ? 'bg-accent text-accent-text' : 'bg-bg-2'}`}
            >
              {t.categories[c]}
            </button>
          ))}
        </div>
      </fieldset>
      <p className="text-sm text-hint" data-testid="tryon-cost">
        {t.costAndBalance(cost, state.balance?.total ?? 0)}
      </p>
      {error !== null && <ErrorBox error={error} />}
      {!onMainButton && (
        <Button testId="start-tryon" disabled={!ready} onClick={() => void start()}>
          {t.startTryon(cost)}
        </Button>
      )}
    </div>
  )
}
