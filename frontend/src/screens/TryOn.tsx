import { useEffect, useRef, useState } from 'react'
import { api, type Category, type PhotoKind, type Upload } from '../api'
import { useApp, useOverlayBack } from '../app-context'
import { Icon } from '../components/icons'
import { JobProgress } from '../components/JobProgress'
import { PhotoPicker } from '../components/PhotoPicker'
import { TryOnResult } from '../components/TryOnResult'
import { Button, Card, ErrorBox, ScreenSkeleton, SectionTitle } from '../components/ui'
import { mayHaveQuiz, restoreQuiz, saveQuiz } from '../quiz'
import { QUIZ_STEPS, isFinished, type QuizStep, type TryOnDraft } from '../state'
import { haptic, hapticSelection, useMainButton } from '../telegram'

/** Items per look (the API takes 1..4 garment uploads). */
const MAX_GARMENTS = 4

/** The categories, read once per app run from the server (the list its prompts know). */
let categoriesCache: Category[] | null = null
function useCategories(): { categories: Category[] | null; error: unknown } {
  const { t } = useApp()
  const [categories, setCategories] = useState<Category[] | null>(categoriesCache)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    let live = true
    api
      .categories()
      .then((list) => {
        categoriesCache = list
        if (live) setCategories(list)
      })
      .catch((e) => live && setError(e))
    return () => {
      live = false
    }
    // Titles follow the UI language.
  }, [t])
  return { categories, error }
}

/** The user's earlier photos of a kind, to reuse ("my photos", "my wardrobe"). */
function EarlierPhotos({ kind, chosen, onPick, title }: { kind: PhotoKind; chosen: string[]; onPick: (u: Upload) => void; title: string }) {
  const { t } = useApp()
  const [items, setItems] = useState<Upload[]>([])
  useEffect(() => {
    let live = true
    api
      .uploads(kind)
      .then((r) => live && setItems(r.items))
      .catch(() => undefined)
    return () => {
      live = false
    }
  }, [kind])
  if (items.length === 0) return null
  return (
    <div className="flex flex-col gap-1.5" data-testid={kind === 'person' ? 'my-photos' : 'my-wardrobe'}>
      <SectionTitle>{title}</SectionTitle>
      <div className="-mx-4 flex gap-2 overflow-x-auto px-4 pb-1">
        {items.map((u) => (
          <button
            key={u.upload_id}
            type="button"
            data-testid={kind === 'person' ? 'my-photo' : 'my-garment'}
            aria-pressed={chosen.includes(u.upload_id)}
            aria-label={t.useThisPhoto}
            onClick={() => onPick(u)}
            className={`relative h-24 w-[72px] shrink-0 overflow-hidden rounded-xl bg-field ${chosen.includes(u.upload_id) ? 'ring-2 ring-accent' : ''}`}
          >
            <img src={u.url} alt="" className="absolute inset-0 h-full w-full object-cover" />
          </button>
        ))}
      </div>
    </div>
  )
}

/** What makes a good photo, and what does not. */
function Examples() {
  const { t } = useApp()
  return (
    <Card testId="photo-examples" className="flex flex-col gap-2 p-3 text-sm">
      <ExampleList title={t.goodExamples} lines={t.goodList} icon="check" tone="text-accent-fg" />
      <ExampleList title={t.badExamples} lines={t.badList} icon="cross" tone="text-danger" />
    </Card>
  )
}

function ExampleList({ title, lines, icon, tone }: { title: string; lines: string[]; icon: 'check' | 'cross'; tone: string }) {
  return (
    <>
      <p className="font-medium">{title}</p>
      <ul className="flex flex-col gap-1">
        {lines.map((line) => (
          <li key={line} className="flex items-start gap-1.5">
            <Icon name={icon} className={`mt-0.5 h-4 w-4 shrink-0 ${tone}`} />
            {line}
          </li>
        ))}
      </ul>
    </>
  )
}

const stepIndex = (step: QuizStep) => QUIZ_STEPS.indexOf(step)
const isPristine = (d: TryOnDraft) => !d.person && d.garments.length === 0 && !d.category && !d.jobId && d.step === 'you'
/** The draft is read back from storage once per app run (a later visit keeps the live state). */
let restored = false
let restoring: Promise<void> | null = null

/** The try-on as a quiz: You → What → Items → Check & pay, then progress and the result. The
 *  draft lives in the app state (tabs lose nothing) and in storage (closing the app neither). */
export function TryOn() {
  const { state, dispatch, t, go } = useApp()
  const draft = state.tryon
  const { step, person, garments, category, jobId } = draft
  const set = (patch: Partial<TryOnDraft>) => dispatch({ type: 'tryon', patch })
  const user = state.me?.user.id ?? 0
  // Nothing stored and no CloudStorage to ask: the quiz starts at once.
  const [ready, setReady] = useState(() => restored || (!restoring && !mayHaveQuiz(user)))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const { categories, error: categoriesError } = useCategories()
  const current = useRef(draft)
  current.current = draft

  useEffect(() => {
    if (ready) {
      restored = true
      return
    }
    let live = true
    restoring ??= restoreQuiz(user)
      .then((saved) => {
        // What the user did meanwhile (the live draft) is not overwritten.
        if (saved && isPristine(current.current)) dispatch({ type: 'tryon', patch: saved })
      })
      .catch(() => undefined)
      .finally(() => {
        restored = true
      })
    void restoring.then(() => live && setReady(true))
    return () => {
      live = false
    }
    // Once per app run (a screen mounted again meanwhile waits for the same read).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])
  useEffect(() => {
    if (ready && user) saveQuiz(user, draft)
  }, [ready, user, draft])

  const cost = state.me?.prices.tryon ?? 2
  const balance = state.balance?.total ?? 0
  const paid = (state.balance?.subscription ?? 0) + (state.balance?.purchased ?? 0)
  const short = balance < cost
  const job = jobId ? state.jobs[jobId] : undefined
  const index = stepIndex(step)
  const canNext = { you: Boolean(person), what: Boolean(category), items: garments.length > 0, check: !short }[step]

  const goTo = (next: QuizStep) => {
    hapticSelection()
    setError(null)
    set({ step: next })
    window.scrollTo?.(0, 0)
  }
  // Telegram's BackButton walks back one step (then leaves the screen).
  const backTo = useRef<() => void>(() => undefined)
  backTo.current = () => goTo(QUIZ_STEPS[Math.max(0, index - 1)])
  useOverlayBack(!jobId && index > 0 ? () => backTo.current() : null)

  const start = async (inputs: TryOnDraft = draft) => {
    if (!inputs.person || inputs.garments.length === 0 || !inputs.category || busy) return
    setBusy(true)
    setError(null)
    try {
      const accepted = await api.tryon(
        inputs.person.upload_id,
        inputs.garments.map((g) => g.upload_id),
        inputs.category,
      )
      dispatch({ type: 'job/track', id: accepted.generation_id, kind: 'tryon' })
      set({ jobId: accepted.generation_id })
      haptic('light')
    } catch (e) {
      haptic('error')
      setError(e)
      throw e
    } finally {
      setBusy(false)
    }
  }
  // A new look with the same person photo: back to "what to try on".
  const another = () => set({ jobId: null, garments: [], category: '', step: 'what' })
  // After a failure: the same inputs, at the check step.
  const retry = () => set({ jobId: null, step: 'check' })

  const mode = jobId ? (isFinished(job?.status) ? 'done' : 'running') : short ? 'short' : 'quiz'
  const main = {
    quiz:
      step === 'check'
        ? { text: t.startTryon(cost), run: () => void start().catch(() => undefined), enabled: canNext && !busy }
        : { text: t.next, run: () => canNext && goTo(QUIZ_STEPS[index + 1]), enabled: canNext },
    short: { text: t.topUp, run: () => go('plans'), enabled: true },
    done: { text: t.newTryon, run: another, enabled: true },
    running: { text: t.next, run: () => undefined, enabled: false },
  }[mode]
  const native = useMainButton(main.text, main.run, { visible: ready && mode !== 'running', enabled: main.enabled, progress: busy })

  // The stored draft is on its way (CloudStorage answers within 1.5 s): no jump from the first step.
  if (!ready) return <ScreenSkeleton label={t.loading} />

  if (jobId) {
    const inputs = [person?.url, ...garments.map((g) => g.url)].filter((u): u is string => Boolean(u))
    const hasInputs = Boolean(person) && garments.length > 0 && Boolean(category)
    return (
      <div className="flex flex-col gap-3">
        <JobProgress
          id={jobId}
          onDone={retry}
          inputs={inputs}
          cancellable
          result={
            job?.status === 'succeeded' ? (
              <TryOnResult
                id={jobId}
                url={job.resultUrl ?? ''}
                watermarked={Boolean(job.watermarked)}
                againCost={cost}
                onAnother={person ? another : undefined}
                onAgain={hasInputs ? () => start() : undefined}
              />
            ) : undefined
          }
        />
        {error !== null && <ErrorBox error={error} />}
        {mode === 'done' && !native && (
          <Button testId="new-tryon" onClick={another}>
            {t.newTryon}
          </Button>
        )}
      </div>
    )
  }

  const title = (categories ?? []).find((c) => c.id === category)?.title ?? ''
  return (
    <div className="flex flex-col gap-3" data-testid="quiz" data-step={step}>
      <div className="flex flex-col gap-1.5" data-testid="quiz-step">
        <p className="text-sm text-hint">{t.quizStep(index + 1, QUIZ_STEPS.length)}</p>
        <h2 className="text-lg font-semibold">{t.stepTitles[step]}</h2>
        <div className="flex gap-1" aria-hidden="true">
          {QUIZ_STEPS.map((s, i) => (
            <span key={s} className={`h-1 flex-1 rounded-full ${i <= index ? 'bg-accent' : 'bg-section'}`} />
          ))}
        </div>
      </div>

      {/* Not enough credits is said first, before the photos are chosen. */}
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

      {step === 'you' && (
        <>
          <div className="grid grid-cols-2 gap-3">
            <PhotoPicker label={t.personPhoto} value={person} onChange={(u) => set({ person: u })} testId="person" kind="person" />
            <Examples />
          </div>
          <EarlierPhotos
            kind="person"
            title={t.myPhotos}
            chosen={person ? [person.upload_id] : []}
            onPick={(u) => {
              hapticSelection()
              set({ person: u })
            }}
          />
        </>
      )}

      {step === 'what' && (
        <>
          <p className="px-1 text-sm text-hint">{t.chooseCategory}</p>
          {categoriesError !== null && <ErrorBox error={categoriesError} />}
          <div className="grid grid-cols-2 gap-2 min-[360px]:grid-cols-3" role="group" aria-label={t.category}>
            {(categories ?? []).map((c) => (
              <button
                key={c.id}
                type="button"
                data-testid={`category-${c.id}`}
                aria-pressed={category === c.id}
                onClick={() => {
                  hapticSelection()
                  set({ category: c.id })
                }}
                className={`flex min-h-[84px] flex-col items-center justify-center gap-1.5 rounded-2xl p-2 text-center text-sm ${category === c.id ? 'bg-accent text-accent-text' : 'bg-section'}`}
              >
                <Icon name={c.icon ?? 'hanger'} className="h-7 w-7" />
                <span className="leading-tight">{c.title}</span>
              </button>
            ))}
          </div>
        </>
      )}

      {step === 'items' && (
        <>
          <div className="grid grid-cols-2 gap-3">
            {[...garments, null].slice(0, MAX_GARMENTS).map((g, i) => (
              <PhotoPicker
                key={g?.upload_id ?? 'new'}
                label={i === 0 ? t.garmentPhotos : `${t.garmentPhotos} ${i + 1}`}
                value={g}
                kind="garment"
                onChange={(u: Upload | null) =>
                  set({ garments: u ? (g ? garments.map((x) => (x === g ? u : x)) : [...garments, u]) : garments.filter((x) => x !== g) })
                }
                testId={i === 0 ? 'garment' : `garment-${i + 1}`}
              />
            ))}
          </div>
          <p className="px-1 text-sm text-hint">{t.itemsHint}</p>
          <EarlierPhotos
            kind="garment"
            title={t.myWardrobe}
            chosen={garments.map((g) => g.upload_id)}
            onPick={(u) => {
              hapticSelection()
              if (garments.some((g) => g.upload_id === u.upload_id)) set({ garments: garments.filter((g) => g.upload_id !== u.upload_id) })
              else if (garments.length < MAX_GARMENTS) set({ garments: [...garments, u] })
            }}
          />
        </>
      )}

      {step === 'check' && (
        <>
          <Card testId="quiz-summary" className="flex flex-col gap-3">
            <div className="flex flex-wrap gap-2">
              {[person, ...garments].map((u) =>
                u ? <img key={u.upload_id} src={u.url} alt="" className="h-24 w-[72px] rounded-xl bg-field object-cover" /> : null,
              )}
            </div>
            <p className="text-sm">
              {t.summaryCategory}: <span className="font-medium">{title || category}</span>
            </p>
            <p className="text-sm" data-testid="tryon-cost">
              {t.costAndBalance(cost, balance)}
            </p>
            {!short && <p className="text-sm text-hint">{t.balanceAfter(balance - cost)}</p>}
            {!short && paid < cost && (
              <div className="flex flex-wrap items-center justify-between gap-2" data-testid="watermark-note">
                <p className="min-w-0 flex-1 text-sm text-hint">{t.watermarkFree}</p>
                <button className="min-h-11 text-sm font-medium text-link" data-testid="remove-watermark" onClick={() => go('plans')}>
                  {t.removeWatermark}
                </button>
              </div>
            )}
          </Card>
        </>
      )}

      {error !== null && <ErrorBox error={error} />}
      {!native && (
        <div className="flex gap-2">
          {index > 0 && (
            <Button variant="secondary" testId="quiz-back" className="flex-1" onClick={() => goTo(QUIZ_STEPS[index - 1])}>
              {t.back}
            </Button>
          )}
          {step !== 'check' ? (
            <Button testId="quiz-next" className="flex-[2]" disabled={!canNext} onClick={() => goTo(QUIZ_STEPS[index + 1])}>
              {t.next}
            </Button>
          ) : (
            !short && (
              <Button testId="start-tryon" className="flex-[2]" disabled={busy} onClick={() => void start().catch(() => undefined)}>
                {t.startTryon(cost)}
              </Button>
            )
          )}
        </div>
      )}
    </div>
  )
}
