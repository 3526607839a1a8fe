import { useApp } from '../app-context'
import type { Screen } from '../app-context'
import { isFinished, type JobState } from '../state'
import { jobLabel, jobPercent } from './JobProgress'

/** The screen a job belongs to (where its progress and result are shown). */
export function jobScreen(job: JobState): Screen {
  return job.kind === 'edit' ? 'editor' : 'tryon'
}

/** Jobs are app-wide: on every other screen, a line per running job (and per result not yet
 *  seen) that leads back to it. */
export function JobsBar({ screen }: { screen: Screen }) {
  const { state, t, go } = useApp()
  const shown = Object.entries(state.jobs).filter(
    ([, job]) => job.kind && jobScreen(job) !== screen && (!isFinished(job.status) || !job.seen),
  )
  if (shown.length === 0) return null
  return (
    <ul className="mb-3 flex flex-col gap-2" data-testid="jobs-bar">
      {shown.map(([id, job]) => (
        <li key={id}>
          <button
            type="button"
            data-testid={`jobs-bar-${job.status}`}
            onClick={() => go(jobScreen(job))}
            className="flex min-h-11 w-full items-center gap-3 rounded-xl bg-section px-3 py-2 text-left text-sm"
          >
            <span className="min-w-0 flex-1">
              <span className="block font-medium">{job.kind === 'edit' ? t.editJob : t.tryonJob}</span>
              <span className={`block ${job.status === 'failed' ? 'text-danger' : 'text-hint'}`}>
                {job.status === 'succeeded' ? t.resultReady : job.status === 'failed' ? t.failed : `${jobLabel(job, t)} ${jobPercent(job)} %`}
              </span>
            </span>
            <span className="shrink-0 font-medium text-link">{t.open}</span>
          </button>
        </li>
      ))}
    </ul>
  )
}
