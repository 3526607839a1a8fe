import { useRef, useState } from 'react'
import { api, ApiError, type Upload } from '../api'
import { useApp } from '../app-context'
import { ErrorBox, Spinner } from './ui'

const ACCEPT = 'image/jpeg,image/png'
const MAX_BYTES = 5 * 1024 * 1024

/** Picks a JPEG/PNG, checks it locally (type, 5 MB) and uploads it; the server checks again. */
export function PhotoPicker({
  label,
  hint,
  value,
  onChange,
  testId,
}: {
  label: string
  hint?: string
  value: Upload | null
  onChange: (u: Upload | null) => void
  testId: string
}) {
  const { t } = useApp()
  const input = useRef<HTMLInputElement>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  const pick = async (file: File | undefined) => {
    if (!file) return
    setError(null)
    if (!ACCEPT.split(',').includes(file.type)) {
      setError(new ApiError(415, 'unsupported_type', t.onlyJpegPng))
      return
    }
    if (file.size > MAX_BYTES) {
      setError(new ApiError(413, 'too_large', t.tooBig))
      return
    }
    setBusy(true)
    try {
      onChange(await api.upload(file, file.name))
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
      if (input.current) input.current.value = ''
    }
  }

  return (
    <div className="flex flex-col gap-2">
      <div className="flex items-baseline justify-between">
        <span className="font-medium">{label}</span>
        {hint && <span className="text-xs text-hint">{hint}</span>}
      </div>
      <button
        type="button"
        data-testid={testId}
        aria-label={label}
        onClick={() => input.current?.click()}
        className="relative flex aspect-[3/4] w-full items-center justify-center overflow-hidden rounded-2xl border-2 border-dashed border-line-strong bg-bg-2"
      >
        {value ? (
          <img src={value.url} alt={label} className="h-full w-full object-cover" />
        ) : busy ? (
          <Spinner label={t.uploading} />
        ) : (
          <span className="text-hint"><span aria-hidden="true">+</span> {t.addPhoto}</span>
        )}
      </button>
      <input
        ref={input}
        type="file"
        accept={ACCEPT}
        className="hidden"
        data-testid={`${testId}-input`}
        onChange={(e) => void pick(e.target.files?.[0])}
      />
      {value && (
        <button type="button" className="text-sm text-danger" onClick={() => onChange(null)}>
          {t.remove}
        </button>
      )}
      {error !== null && <ErrorBox error={error} />}
    </div>
  )
}
