import { useEffect, useRef, useState } from 'react'
import { api, type Generation } from '../api'
import { useApp, useOverlayBack } from '../app-context'
import { haptic, hapticSelection, insideTelegram, shareToStory } from '../telegram'
import { Icon } from './icons'
import { ResultActions } from './JobProgress'
import { Button, ErrorBox, ImageBox } from './ui'

/** Before/after: the result with the person photo over it up to the slider. */
export function BeforeAfter({ before, after }: { before: string; after: string }) {
  const { t } = useApp()
  const [position, setPosition] = useState(50)
  return (
    <div className="flex flex-col gap-1">
      <div data-testid="result-box" className="relative aspect-[3/4] w-full overflow-hidden rounded-2xl bg-field">
        <img src={after} alt={t.after} className="absolute inset-0 h-full w-full object-contain" />
        <img
          src={before}
          alt={t.before}
          data-testid="before-image"
          className="absolute inset-0 h-full w-full object-contain"
          style={{ clipPath: `inset(0 ${100 - position}% 0 0)` }}
        />
        <div className="pointer-events-none absolute inset-y-0 w-0.5 bg-accent" style={{ left: `${position}%` }} />
        <span className="absolute left-2 top-2 rounded-full bg-section px-2 py-0.5 text-xs font-medium">{t.before}</span>
        <span className="absolute right-2 top-2 rounded-full bg-section px-2 py-0.5 text-xs font-medium">{t.after}</span>
      </div>
      <input
        type="range"
        min={0}
        max={100}
        value={position}
        data-testid="compare-slider"
        aria-label={t.compareHint}
        onChange={(e) => setPosition(Number(e.target.value))}
        className="h-11 w-full accent-[var(--app-accent)]"
      />
    </div>
  )
}

/** The result full screen: pinch to zoom (the browser's own), a double tap zooms in and out. */
function FullScreen({ url, onClose }: { url: string; onClose: () => void }) {
  const { t } = useApp()
  const [zoomed, setZoomed] = useState(false)
  useOverlayBack(onClose)
  // The page under the overlay does not scroll along.
  useEffect(() => {
    const before = document.body.style.overflow
    document.body.style.overflow = 'hidden'
    return () => {
      document.body.style.overflow = before
    }
  }, [])
  return (
    <div role="dialog" aria-label={t.fullscreen} data-testid="fullscreen-view" className="fixed inset-0 z-50 flex flex-col bg-page">
      <div className="flex justify-end p-2">
        <button data-testid="fullscreen-close" className="flex min-h-11 min-w-11 items-center justify-center rounded-full bg-section" aria-label={t.close} onClick={onClose}>
          <Icon name="cross" />
        </button>
      </div>
      <div className="flex-1 overflow-auto" style={{ touchAction: 'pinch-zoom pan-x pan-y' }}>
        <img
          src={url}
          alt={t.result}
          onDoubleClick={() => setZoomed((z) => !z)}
          className={zoomed ? 'max-w-none' : 'h-full w-full object-contain'}
          style={zoomed ? { width: '200%' } : undefined}
        />
      </div>
    </div>
  )
}

/** 👍/👎 with an optional reason; stored with the generation for the operator. */
function Rating({ id, initial }: { id: string; initial?: 'up' | 'down' | null }) {
  const { t } = useApp()
  const [rating, setRating] = useState<'up' | 'down' | null>(initial ?? null)
  const [reason, setReason] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => setRating(initial ?? null), [initial])
  const rate = async (value: 'up' | 'down', why?: string) => {
    setError(null)
    hapticSelection()
    try {
      await api.rateGeneration(id, value, why)
      setRating(value)
      if (why) setReason(why)
    } catch (e) {
      setError(e)
    }
  }
  return (
    <div className="rounded-2xl bg-section p-3" data-testid="rating">
      <p className="text-sm font-medium">{rating ? t.rateThanks : t.rateQuestion}</p>
      <div className="mt-2 flex gap-2">
        {(['up', 'down'] as const).map((value) => (
          <button
            key={value}
            data-testid={`rate-${value}`}
            aria-pressed={rating === value}
            aria-label={value === 'up' ? t.rateUp : t.rateDown}
            onClick={() => void rate(value)}
            className={`flex min-h-11 flex-1 items-center justify-center gap-2 rounded-xl text-sm ${rating === value ? 'bg-accent text-accent-text' : 'bg-field'}`}
          >
            <Icon name={value === 'up' ? 'thumb-up' : 'thumb-down'} />
            {value === 'up' ? t.rateUp : t.rateDown}
          </button>
        ))}
      </div>
      {rating === 'down' && (
        <div className="mt-2 flex flex-wrap gap-2" role="group" aria-label={t.rateDown}>
          {t.reasonsList.map((why) => (
            <button
              key={why}
              data-testid="rate-reason"
              aria-pressed={reason === why}
              onClick={() => void rate('down', why)}
              className={`min-h-11 rounded-full px-3 text-sm ${reason === why ? 'bg-accent text-accent-text' : 'bg-field'}`}
            >
              {why}
            </button>
          ))}
        </div>
      )}
      {error !== null && <ErrorBox error={error} />}
    </div>
  )
}

/** A finished try-on: before/after, full screen, download, send, story, edit in chat, another
 *  item, again (charged again, said so), rating. */
export function TryOnResult({
  id,
  url,
  watermarked,
  onAnother,
  onAgain,
  againCost,
}: {
  id: string
  url: string
  watermarked: boolean
  onAnother?: () => void
  onAgain?: () => Promise<void>
  againCost: number
}) {
  const { t, go, dispatch } = useApp()
  const [generation, setGeneration] = useState<Generation | null>(null)
  const [full, setFull] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [shared, setShared] = useState(false)
  const mounted = useRef(true)
  useEffect(() => {
    mounted.current = true
    api
      .generation(id)
      .then((g) => mounted.current && setGeneration(g))
      .catch(() => undefined)
    return () => {
      mounted.current = false
    }
  }, [id])
  const before = generation?.input_url
  const canShare = insideTelegram() || typeof navigator.share === 'function'

  const editInChat = async () => {
    setError(null)
    try {
      const chat = await api.setChatImage(id)
      dispatch({ type: 'chat', messages: chat.messages, image: chat.current_image?.url ?? null })
      hapticSelection()
      go('editor')
    } catch (e) {
      setError(e)
    }
  }
  const share = async () => {
    const absolute = new URL(url, location.href).toString()
    if (shareToStory(absolute, t.appName)) {
      setShared(true)
      return
    }
    try {
      await navigator.share?.({ url: absolute, title: t.appName })
      setShared(true)
    } catch {
      // The user closed the share sheet.
    }
  }
  const again = async () => {
    if (!onAgain) return
    setBusy(true)
    setError(null)
    try {
      await onAgain()
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div data-testid="job-result" className="flex flex-col gap-3">
      {before ? <BeforeAfter before={before} after={url} /> : <ImageBox src={url} alt={t.result} testId="result-box" />}
      <p className="text-sm text-hint">{watermarked ? t.watermarkNote : t.done}</p>
      <div className="grid grid-cols-1 gap-2 min-[360px]:grid-cols-2">
        <Button variant="secondary" testId="fullscreen" onClick={() => setFull(true)}>
          <span className="flex items-center justify-center gap-2">
            <Icon name="expand" /> {t.fullscreen}
          </span>
        </Button>
        {canShare && (
          <Button variant="secondary" testId="share-story" disabled={shared} onClick={() => void share()}>
            <span className="flex items-center justify-center gap-2">
              <Icon name="share" /> {t.shareStory}
            </span>
          </Button>
        )}
      </div>
      <ResultActions id={id} url={url} />
      <div className="grid grid-cols-1 gap-2 min-[360px]:grid-cols-2">
        <Button variant="secondary" testId="edit-in-chat" onClick={() => void editInChat()}>
          {t.editInChat}
        </Button>
        {onAnother && (
          <Button variant="secondary" testId="try-another" onClick={onAnother}>
            {t.tryAnother}
          </Button>
        )}
      </div>
      {onAgain && (
        <div className="flex flex-col gap-1">
          <Button variant="secondary" testId="again" disabled={busy} onClick={() => void again()}>
            {t.again(againCost)}
          </Button>
          <p className="px-1 text-sm text-hint">{t.againNote}</p>
        </div>
      )}
      {error !== null && <ErrorBox error={error} />}
      <Rating id={id} initial={generation?.rating} />
      {full && <FullScreen url={url} onClose={() => setFull(false)} />}
    </div>
  )
}
