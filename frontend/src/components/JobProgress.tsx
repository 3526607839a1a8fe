import { useEffect, useState, type ReactNode } from 'react'
import { api, ApiError, type Generation } from '../api'
import { useApp } from '../app-context'
import type { Strings } from '../i18n'
import { isFinished, type JobState } from '../state'
import { downloadInTelegram, downloadUrl, haptic } from '../telegram'
import { Button, ButtonLink, ErrorBox, ImageBox, Spinner } from './ui'

/** How far along a job looks (the bar and the percent). */
export function jobPercent(job: JobState | undefined): number {
  if (!job || job.status === 'queued') return 15
  if (job.status === 'submitted') return 40
  if (job.status === 'running') return 75
  return 100
}

/** What an unfinished job is doing, in words the user understands. */
export function jobLabel(job: JobState | undefined, t: Strings): string {
  if (!job || job.status === 'queued') return t.queued(job?.position ?? 1)
  if (job.stage === 'finishing') return t.stageFinishing
  return job.status === 'submitted' ? t.stageSending : t.stageGenerating
}

/** How long this user's recent jobs took, start to result, in seconds (the median of the
 *  succeeded ones among `items`), or null with fewer than two to go by. */
export function typicalSeconds(items: Generation[]): number | null {
  const durations = items
    .filter((g) => g.status === 'succeeded' && g.finished_at)
    .map((g) => (Date.parse(g.finished_at as string) - Date.parse(g.created_at)) / 1000)
    .filter((s) => Number.isFinite(s) && s > 0)
    .sort((a, b) => a - b)
  if (durations.length < 2) return null
  return Math.round(durations[Math.floor(durations.length / 2)])
}

/** A rough time left, in seconds: from the user's recent jobs (`typical`, see `typicalSeconds`)
 *  when there are some, else from kie.ai's usual 20–40 s per task; a queued job waits for the
 *  ones ahead. */
export function jobEstimate(job: JobState | undefined, typical: number | null = null): number {
  const whole = Math.max(10, typical ?? 50)
  if (!job || job.status === 'queued') return Math.round(whole * 0.6) + Math.round(whole * 0.3) * Math.max(0, (job?.position ?? 1) - 1)
  if (job.stage === 'finishing') return 5
  return Math.max(5, Math.round(whole * (job.status === 'submitted' ? 0.6 : 0.4)))
}

/** Live state of one job from the app-wide store (WebSocket events, REST re-reads). The picture
 *  box keeps its size from progress to result, so the page never jumps. */
export function JobProgress({
  id,
  onDone,
  inputs,
  cancellable = false,
  result,
}: {
  id: string
  onDone?: () => void
  /** Pictures of the inputs, shown while waiting. */
  inputs?: string[]
  /** Offer "cancel" while the job is queued (said clearly once it cannot be). */
  cancellable?: boolean
  /** Shown instead of the plain result once the job succeeded. */
  result?: ReactNode
}) {
  const { state, t, dispatch } = useApp()
  const [cancelError, setCancelError] = useState<unknown>(null)
  const [cancelling, setCancelling] = useState(false)
  const job = state.jobs[id]
  const finished = isFinished(job?.status)
  // The estimate learns from the user's own recent results (one read while a job is unfinished).
  const [typical, setTypical] = useState<number | null>(null)
  useEffect(() => {
    if (finished) return
    let live = true
    api
      .generations()
      .then((page) => live && setTypical(typicalSeconds(page.items)))
      .catch(() => undefined)
    return () => {
      live = false
    }
  }, [finished])

  // Seen here: the bar on other screens stops announcing it; success and failure are felt.
  useEffect(() => {
    if (!finished || job?.seen) return
    haptic(job?.status === 'succeeded' ? 'success' : 'error')
    dispatch({ type: 'job/seen', id })
  }, [finished, job?.seen, job?.status, id, dispatch])

  if (job?.status === 'failed') {
    return (
      <div role="alert" data-testid="job-failed" className="rounded-2xl bg-danger-soft p-4">
        <p className="font-medium text-danger">{job.code === 'canceled' ? t.canceledTitle : t.failed}</p>
        <p className="mt-1 text-sm">{job.message || t.errorGeneric}</p>
        {/* A cancelled job's message says the credits are back already. */}
        {job.creditsReturned && job.code !== 'canceled' && <p className="mt-1 text-sm text-hint">{t.creditsReturned}</p>}
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
  if (job?.status === 'succeeded' && result) return <>{result}</>
  if (job?.status === 'succeeded') {
    return (
      <div data-testid="job-result" className="flex flex-col gap-3">
        <ImageBox src={job.resultUrl} alt={t.done} testId="result-box" />
        <p className="text-sm text-hint">{job.watermarked ? t.watermarkNote : t.done}</p>
        <ResultActions id={id} url={job.resultUrl ?? ''} />
      </div>
    )
  }
  const percent = jobPercent(job)
  const label = jobLabel(job, t)
  const queued = !job || job.status === 'queued'
  const cancel = async () => {
    setCancelling(true)
    setCancelError(null)
    try {
      await api.cancelGeneration(id)
      haptic('light')
      // The job is failed as cancelled and its credits are back: read both now.
      dispatch({ type: 'jobs/read', generations: [await api.generation(id)] })
    } catch (e) {
      setCancelError(e)
      if (e instanceof ApiError && e.code === 'not_cancellable') dispatch({ type: 'jobs/read', generations: [await api.generation(id)] })
    } finally {
      setCancelling(false)
    }
  }
  return (
    <div data-testid="job-progress" data-status={job?.status ?? 'queued'} className="flex flex-col gap-3">
      <ImageBox alt="" testId="result-box">
        <div className="absolute inset-0 flex flex-col items-center justify-center gap-4 p-6">
          <Spinner label={label} />
          <div className="h-1.5 w-full overflow-hidden rounded-full bg-section" role="progressbar" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100} aria-label={label}>
            <div className="h-full rounded-full bg-accent transition-all duration-700" style={{ width: `${percent}%` }} />
          </div>
          <p className="text-center text-sm text-hint" data-testid="job-estimate">
            {t.estimate(jobEstimate(job, typical))}
          </p>
          <p className="text-center text-sm text-hint">{inputs ? t.alsoInChat : t.jobKeepsRunning}</p>
        </div>
      </ImageBox>
      {inputs && inputs.length > 0 && (
        <div className="flex gap-2" data-testid="job-inputs">
          {inputs.map((url) => (
            <img key={url} src={url} alt="" className="h-16 w-12 rounded-lg bg-field object-cover" />
          ))}
        </div>
      )}
      {cancellable && (
        <Button variant="secondary" testId="cancel-job" disabled={!queued || cancelling} onClick={() => void cancel()}>
          {queued ? t.cancel : t.cancelNotPossible}
        </Button>
      )}
      {cancelError !== null && <ErrorBox error={cancelError} />}
    </div>
  )
}

/** Download and send-to-chat for a finished result. */
export function ResultActions({ id, url }: { id: string; url: string }) {
  const { t } = useApp()
  const [sent, setSent] = useState(false)
  const [error, setError] = useState<unknown>(null)
  return (
    <div className="flex flex-col gap-2">
      {error !== null && <ErrorBox error={error} />}
      {/* Side by side where both labels fit on one line, stacked on the narrowest phones. */}
      <div className="grid grid-cols-1 gap-2 min-[360px]:grid-cols-2">
        <ButtonLink
          href={downloadUrl(url)}
          testId="download"
          onClick={(e) => {
            if (downloadInTelegram(url)) e.preventDefault()
          }}
        >
          {t.download}
        </ButtonLink>
        <Button
          variant="secondary"
          className="px-2 text-[15px]"
          testId="send-to-chat"
          disabled={sent}
          onClick={async () => {
            setError(null)
            try {
              await api.sendGeneration(id)
              setSent(true)
              haptic('success')
            } catch (e) {
              setError(e)
              haptic('error')
            }
          }}
        >
          {sent ? t.sent : t.sendToChat}
        </Button>
      </div>
    </div>
  )
}
