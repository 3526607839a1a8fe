import { useState } from 'react'
import { api, type Upload } from '../api'
import { useApp } from '../app-context'
import { JobProgress } from '../components/JobProgress'
import { PhotoPicker } from '../components/PhotoPicker'
import { Button, ErrorBox } from '../components/ui'
import { haptic } from '../telegram'

const CATEGORIES = ['top', 'bottom', 'dress', 'outerwear', 'shoes', 'headwear', 'glasses', 'bag', 'jewellery', 'other']

export function TryOn() {
  const { state, t } = useApp()
  const [person, setPerson] = useState<Upload | null>(null)
  const [garment, setGarment] = useState<Upload | null>(null)
  const [category, setCategory] = useState('top')
  const [jobId, setJobId] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const cost = state.me?.prices.tryon ?? 2

  if (jobId) {
    return (
      <JobProgress
        id={jobId}
        onDone={() => {
          setJobId(null)
          setGarment(null)
        }}
      />
    )
  }

  const start = async () => {
    if (!person || !garment) return
    setBusy(true)
    setError(null)
    try {
      const accepted = await api.tryon(person.upload_id, [garment.upload_id], category)
      haptic('success')
      setJobId(accepted.generation_id)
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="flex flex-col gap-4">
      <div className="grid grid-cols-2 gap-3">
        <PhotoPicker label={t.personPhoto} hint="" value={person} onChange={setPerson} testId="person" />
        <PhotoPicker label={t.garmentPhotos} hint="" value={garment} onChange={setGarment} testId="garment" />
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
      {error !== null && <ErrorBox error={error} />}
      <Button testId="start-tryon" disabled={!person || !garment || busy} onClick={() => void start()}>
        {t.startTryon(cost)}
      </Button>
    </div>
  )
}
