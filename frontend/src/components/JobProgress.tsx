import { useEffect, useState } from 'react'
import { api } from '../api'
import { useApp } from '../app-context'
import { Button, ErrorBox, Spinner } from './ui'
import { downloadInTelegram, downloadUrl } from '../telegram'

/** Live state of one generation (WebSocket events; a poll as a fallback when offline). */
export function JobProgress({ id, onDone }: { id: string; onDone?: () => void }) {
  const { state, t, dispatch, refreshMe } = useApp()
  const job = state.jobs[id]
  const [sent, setSent] = useState(false)
  const [sendError, setSendError] = useState<unknown>(null)

  useEffect(() => {
    if (job?.status === 'succeeded' || job?.status === 'failed') return
    const timer = setInterval(async () => {
      if (state.online) return
      try {
        const g = await api.generation(id)
        if (g.status === 'succeeded') {
          dispatch({ type: 'event', event: { type: 'job.succeeded', data: { generation_id: id, result_url: g.result_url, watermarked: g.watermarked } } })
        } else if (g.status === 'failed') {
          dispatch({ type: 'event', event: { type: 'job.failed', data: { generation_id: id, message: g.error?.message, credits_returned: g.refunded } } })
          void refreshMe()
        }
      } catch {
        /* still offline */
      }
    }, 3000)
    return () => clearInterval(timer)
  }, [id, job?.status, state.online, dispatch, refreshMe])

  if (!job || job.status === 'queued' || job.status === 'submitted' || job.status === 'running') {
    const label =
      !job || job.status === 'queued'
        ? t.queued(job?.position ?? 1)
        : job.status === 'submitted'
          ? t.submitted
          : t.generating
    return (
      <div data-testid="job-progress" className="flex flex-col items-center gap-3 py-8">
        <Spinner label={label} />
        <div className="h-1.5 w-full overflow-hidden rounded-full bg-bg-2">
          <div
            className="h-full rounded-full bg-accent transition-all duration-700"
            style={{ width: !job || job.status === 'queued' ? '15%' : job.status === 'submitted' ? '40%' : '75%' }}
          />
        </div>
      </div>
    )
  }
  if (job.status === 'failed') {
    return (
      <div role="alert" data-testid="job-failed" className="rounded-xl border border-danger-line bg-danger-soft p-4">
        <p className="font-medium text-danger">{t.failed}</p>
        <p className="mt-1 text-sm">{job.message || t.errorGeneric}</p>
        {job.creditsReturned && <p className="mt-1 text-sm text-hint">{t.creditsReturned}</p>}
        {onDone && (
          <div className="mt-3">
            <Button variant="secondary" onClick={onDone}>
              {t.retry}
            </Button>
          </div>
        )}
      </div>
    )
  }
  return (
    <div data-testid="job-result" className="flex flex-col gap-3">
      <p className="font-medium">{t.done}</p>
      <img src={job.resultUrl} alt={t.done} className="w-full rounded-2xl" />
      {job.watermarked && <p className="text-xs text-hint">{t.watermarkNote}</p>}
      {sendError !== null && <ErrorBox error={sendError} />}
      <Button
        variant="secondary"
        disabled={sent}
        onClick={async () => {
          setSendError(null)
          try {
            await api.sendGeneration(id)
            setSent(true)
          } catch (e) {
            setSendError(e)
          }
        }}
      >
        {sent ? t.sent : t.sendToChat}
      </Button>
      <a
        href={downloadUrl(job.resultUrl ?? '')}
        download
        data-testid="download"
        className="w-full rounded-xl bg-bg-2 px-4 py-3 text-center font-medium"
        onClick={(e) => {
          if (downloadInTelegram(job.resultUrl ?? '')) e.preventDefault()
        }}
      >
        {t.download}
      </a>
      {onDone && <Button onClick={onDone}>{t.newTryon}</Button>}
    </div>
  )
}
