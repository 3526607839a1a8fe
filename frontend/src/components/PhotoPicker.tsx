import { useEffect, useRef, useState } from 'react'
import type { PhotoKind, Upload } from '../api'
import { useApp } from '../app-context'
import { haptic, hapticSelection } from '../telegram'
import { ACCEPTED_TYPES, uploadPhoto } from '../upload'
import { ErrorBox } from './ui'

/** Picks a photo (JPEG, PNG or WebP), makes it small on the phone, and uploads it with a preview
 *  and the percent sent; the server checks it again. */
export function PhotoPicker({
  label,
  value,
  onChange,
  testId,
  kind,
}: {
  label: string
  value: Upload | null
  onChange: (u: Upload | null) => void
  testId: string
  /** A try-on photo: the server checks its quality (refusal → the error shown here; warnings
   *  shown under the picture). */
  kind?: PhotoKind
}) {
  const { t } = useApp()
  const input = useRef<HTMLInputElement>(null)
  const [preview, setPreview] = useState<string | null>(null)
  const [progress, setProgress] = useState<number | null>(null)
  const [error, setError] = useState<unknown>(null)

  useEffect(() => () => {
    if (preview) URL.revokeObjectURL(preview)
  }, [preview])

  const pick = async (file: File | undefined) => {
    if (input.current) input.current.value = ''
    if (!file) return
    setError(null)
    if (ACCEPTED_TYPES.includes(file.type)) setPreview(URL.createObjectURL(file))
    setProgress(0)
    try {
      onChange(await uploadPhoto(file, t, setProgress, kind))
      hapticSelection()
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setProgress(null)
      setPreview(null)
    }
  }

  const shown = preview ?? value?.url ?? null
  return (
    <div className="flex min-w-0 flex-col gap-1.5">
      <span className="truncate px-1 text-sm font-medium">{label}</span>
      <button
        type="button"
        data-testid={testId}
        aria-label={value ? `${label}: ${t.changePhoto}` : `${label}: ${t.addPhoto}`}
        onClick={() => input.current?.click()}
        disabled={progress !== null}
        data-state={progress !== null ? 'uploading' : value ? 'uploaded' : 'empty'}
        className={`relative flex aspect-[3/4] w-full items-center justify-center overflow-hidden rounded-2xl bg-section ${shown ? '' : 'border-2 border-dashed border-line'}`}
      >
        {shown && <img src={shown} alt={label} className="absolute inset-0 h-full w-full object-cover" />}
        {progress !== null && (
          <span role="status" data-testid={`${testId}-progress`} className="relative rounded-full bg-section px-3 py-1 text-sm font-medium">
            {t.uploadingPercent(progress)}
          </span>
        )}
        {!shown && progress === null && (
          <span className="px-2 text-center text-sm text-link">
            <span aria-hidden="true">+ </span>
            {t.addPhoto}
          </span>
        )}
      </button>
      <input
        ref={input}
        type="file"
        accept={ACCEPTED_TYPES.join(',')}
        className="hidden"
        data-testid={`${testId}-input`}
        onChange={(e) => void pick(e.target.files?.[0])}
      />
      {value && progress === null && (
        <button type="button" className="min-h-11 text-sm text-danger" onClick={() => onChange(null)}>
          {t.remove}
        </button>
      )}
      {value?.warnings && value.warnings.length > 0 && progress === null && (
        <p role="status" data-testid={`${testId}-warnings`} className="px-1 text-sm text-hint">
          {t.photoWarning} {value.warnings.map((w) => t.warnings[w] ?? w).join(', ')}
        </p>
      )}
      {error !== null && <ErrorBox error={error} />}
    </div>
  )
}
