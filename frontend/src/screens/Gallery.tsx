import { useState } from 'react'
import { confirmAction } from '../telegram'
import { api, type Generation } from '../api'
import { useApp, useOverlayBack } from '../app-context'
import { jobLabel, jobPercent, ResultActions } from '../components/JobProgress'
import { Button, ErrorBox, ImageBox, ScreenSkeleton } from '../components/ui'
import { usePagedList } from '../components/usePagedList'
import { isFinished, jobFromGeneration, type JobState } from '../state'

/** The gallery item as it is now: the page as loaded, overtaken by live job state. */
function live(g: Generation, job: JobState | undefined): JobState {
  const loaded = jobFromGeneration(g) as JobState
  return job && (isFinished(job.status) || !isFinished(loaded.status)) ? { ...loaded, ...job } : loaded
}

export function Gallery() {
  const { state, t, go, dispatch } = useApp()
  const paged = usePagedList(api.generations)
  const { cursor, loading, error, setError, load } = paged
  const items = paged.items ?? []
  const [open, setOpen] = useState<Generation | null>(null)
  useOverlayBack(open ? () => setOpen(null) : null)

  if (open) {
    const job = live(open, state.jobs[open.id])
    return (
      <div className="flex flex-col gap-3" data-testid="gallery-item">
        <ImageBox src={job.resultUrl} alt={t.result} />
        {job.watermarked && <p className="px-1 text-sm text-hint">{t.watermarked}</p>}
        {error !== null && <ErrorBox error={error} />}
        <ResultActions id={open.id} url={job.resultUrl ?? ''} />
        <Button
          variant="secondary"
          testId="edit-in-chat"
          onClick={async () => {
            setError(null)
            try {
              const chat = await api.setChatImage(open.id)
              dispatch({ type: 'chat', messages: chat.messages, image: chat.current_image?.url ?? null })
              go('editor')
            } catch (e) {
              setError(e)
            }
          }}
        >
          {t.editInChat}
        </Button>
        <Button
          variant="danger"
          testId="delete"
          onClick={async () => {
            if (!(await confirmAction(t.confirmDelete))) return
            setError(null)
            try {
              await api.deleteGeneration(open.id)
              paged.setItems((old) => (old ?? []).filter((g) => g.id !== open.id))
              setOpen(null)
            } catch (e) {
              setError(e)
            }
          }}
        >
          {t.delete}
        </Button>
      </div>
    )
  }

  return (
    <div className="flex flex-col gap-3">
      {error !== null && <ErrorBox error={error} onRetry={() => void load(null)} />}
      {!loading && items.length === 0 && error === null && <p className="rounded-2xl bg-section p-4 text-center">{t.emptyGallery}</p>}
      {loading && items.length === 0 && <ScreenSkeleton label={t.loading} />}
      <ul className="grid grid-cols-2 gap-2" data-testid="gallery">
        {items.map((g) => {
          const job = live(g, state.jobs[g.id])
          return (
            <li key={g.id} data-testid={`tile-${job.status}`}>
              {job.status === 'succeeded' && job.resultUrl ? (
                <button
                  className="block w-full"
                  aria-label={`${t.open}: ${new Date(g.created_at).toLocaleString()}`}
                  onClick={() => {
                    setError(null)
                    setOpen(g)
                  }}
                >
                  <img src={job.resultUrl} alt="" loading="lazy" className="aspect-[3/4] w-full rounded-xl bg-field object-cover" />
                </button>
              ) : (
                <div className="flex aspect-[3/4] flex-col items-center justify-center gap-1 rounded-xl bg-section p-2 text-center text-sm">
                  {job.status === 'failed' ? (
                    <>
                      <span className="font-medium text-danger">{t.failed}</span>
                      {job.creditsReturned && <span className="text-hint">{t.creditsReturned}</span>}
                    </>
                  ) : (
                    <>
                      <span className="h-5 w-5 animate-spin rounded-full border-2 border-hint border-t-transparent" aria-hidden="true" />
                      <span className="text-hint">
                        {jobLabel(job, t)} {jobPercent(job)} %
                      </span>
                    </>
                  )}
                </div>
              )}
            </li>
          )
        })}
      </ul>
      {cursor && !loading && (
        <Button variant="secondary" onClick={() => void load(cursor)}>
          {t.loadMore}
        </Button>
      )}
    </div>
  )
}
