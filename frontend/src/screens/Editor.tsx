import { useCallback, useEffect, useRef, useState } from 'react'
import { api, type ChatMessage } from '../api'
import { useApp } from '../app-context'
import { Icon } from '../components/icons'
import { JobProgress, ResultActions } from '../components/JobProgress'
import { Button, ErrorBox, ImageBox, ScreenSkeleton } from '../components/ui'
import { isFinished, type EditorDraft } from '../state'
import { ACCEPTED_TYPES, uploadPhoto } from '../upload'
import { confirmAction, haptic } from '../telegram'

/** A media link without its signature and expiry: the same picture under any fresh link. */
export function mediaKey(url: string | null | undefined): string {
  return (url ?? '').split('?')[0]
}

/** The editor chat: a photo and a request → the assistant's variants → an edit of the chat's
 *  current picture. The draft (text, attached photo) and running edits live in the app state. */
export function Editor() {
  const { state, dispatch, t } = useApp()
  const { text, attached } = state.editor
  const setDraft = useCallback((patch: Partial<EditorDraft>) => dispatch({ type: 'editor', patch }), [dispatch])
  const [progress, setProgress] = useState<number | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [loaded, setLoaded] = useState(false)
  const file = useRef<HTMLInputElement>(null)
  const prices = state.me?.prices
  const hasImage = Boolean(attached || state.chatImage)
  const running = Object.entries(state.jobs).filter(([, j]) => j.kind === 'edit' && !isFinished(j.status))

  useEffect(() => {
    api
      .chat()
      .then((chat) => dispatch({ type: 'chat', messages: chat.messages, image: chat.current_image?.url ?? null }))
      .catch(setError)
      .finally(() => setLoaded(true))
  }, [dispatch])

  // The newest message, a new job or an error is always in view above the composer.
  useEffect(() => {
    if (!loaded) return
    window.scrollTo?.({ top: document.documentElement.scrollHeight, behavior: 'smooth' })
  }, [loaded, state.chat.length, running.length, error])

  const send = async () => {
    const value = text.trim()
    if (!value || !hasImage) return
    setBusy(true)
    setError(null)
    try {
      const reply = await api.say(value, attached?.upload_id)
      for (const m of [reply.user_message, reply.message]) {
        dispatch({ type: 'event', event: { type: 'chat.message', data: m as unknown as Record<string, unknown> } })
      }
      setDraft({ text: '', attached: null })
      haptic(reply.charged ? 'success' : 'error')
    } catch (e) {
      setError(e)
      haptic('error')
    } finally {
      setBusy(false)
    }
  }

  const apply = async (variantId: string, prompt?: string) => {
    setError(null)
    try {
      const accepted = await api.applyVariant(variantId, prompt)
      dispatch({ type: 'job/track', id: accepted.generation_id, kind: 'edit' })
      haptic('light')
    } catch (e) {
      setError(e)
      haptic('error')
    }
  }

  const restore = async (generationId: string) => {
    setError(null)
    try {
      const chat = await api.setChatImage(generationId)
      dispatch({ type: 'chat', messages: chat.messages, image: chat.current_image?.url ?? null })
      haptic('success')
    } catch (e) {
      setError(e)
      haptic('error')
    }
  }

  const attach = async (f: File | undefined) => {
    if (file.current) file.current.value = ''
    if (!f) return
    setError(null)
    setProgress(0)
    try {
      setDraft({ attached: await uploadPhoto(f, t, setProgress) })
    } catch (e) {
      setError(e)
    } finally {
      setProgress(null)
    }
  }

  const images = state.chat.filter((m) => m.kind === 'image' && m.image_url)
  const current = mediaKey(state.chatImage)

  return (
    <div className="flex flex-1 flex-col gap-3">
      {!loaded && <ScreenSkeleton label={t.loading} />}
      {loaded && state.chat.length === 0 && <p className="rounded-2xl bg-section p-4 text-sm">{t.chatEmpty}</p>}
      <ol className="flex flex-col gap-3" data-testid="chat">
        {state.chat.map((m) => {
          const index = images.indexOf(m)
          return (
            <Message
              key={m.id}
              m={m}
              previous={index > 0 ? images[index - 1] : undefined}
              isCurrent={Boolean(m.image_url) && mediaKey(m.image_url) === current}
              hasImage={hasImage}
              onApply={apply}
              onRestore={restore}
              cost={prices?.edit_generation ?? 1}
            />
          )
        })}
      </ol>
      {running.map(([id]) => (
        <JobProgress key={id} id={id} />
      ))}
      {error !== null && <ErrorBox error={error} />}
      <div
        data-testid="composer"
        className="sticky bottom-[calc(var(--tabbar)+var(--safe-bottom))] mt-auto flex flex-col gap-2 rounded-2xl bg-section p-2 shadow-sm"
      >
        {(attached || progress !== null) && (
          <div className="flex items-center gap-2 text-sm">
            {attached && <img src={attached.url} alt={t.attached} data-testid="attached" className="h-11 w-11 rounded-lg object-cover" />}
            {progress !== null && (
              <span role="status" data-testid="attach-progress" className="text-hint">
                {t.uploadingPercent(progress)}
              </span>
            )}
            {attached && (
              <button className="min-h-11 px-2 text-danger" onClick={() => setDraft({ attached: null })}>
                {t.remove}
              </button>
            )}
          </div>
        )}
        {!hasImage && progress === null && (
          <p className="px-1 text-sm text-hint" data-testid="need-photo">
            {t.needPhotoFirst}
          </p>
        )}
        <div className="flex items-end gap-2">
          <button
            type="button"
            aria-label={t.attach}
            data-testid="attach"
            onClick={() => file.current?.click()}
            className="flex h-11 w-11 shrink-0 items-center justify-center rounded-xl bg-field text-link"
          >
            <Icon name="attach" />
          </button>
          <input
            ref={file}
            type="file"
            accept={ACCEPTED_TYPES.join(',')}
            className="hidden"
            data-testid="attach-input"
            onChange={(e) => void attach(e.target.files?.[0])}
          />
          <textarea
            value={text}
            onChange={(e) => setDraft({ text: e.target.value })}
            placeholder={hasImage ? t.chatPlaceholder : t.chatPlaceholderNoPhoto}
            aria-label={t.chatPlaceholder}
            data-testid="chat-input"
            maxLength={1000}
            rows={1}
            className="min-h-11 min-w-0 flex-1 resize-none rounded-xl bg-field px-3 py-2.5 placeholder:text-hint focus:outline-none focus-visible:ring-2 focus-visible:ring-accent"
          />
          <button
            type="button"
            data-testid="chat-send"
            aria-label={t.send}
            disabled={busy || progress !== null || !text.trim() || !hasImage}
            onClick={() => void send()}
            className="flex h-11 w-11 shrink-0 items-center justify-center rounded-xl bg-accent text-accent-text disabled:opacity-50"
          >
            {busy ? '…' : <Icon name="send" />}
          </button>
        </div>
        <div className="flex items-center justify-between gap-2 px-1 text-sm text-hint">
          <span>{t.messageCost(prices?.chat_message ?? 1)}</span>
          {state.chat.length > 0 && (
            <button
              className="min-h-11 shrink-0 font-medium text-link"
              onClick={async () => {
                if (!(await confirmAction(t.confirmStartOver))) return
                setError(null)
                try {
                  await api.clearChat()
                  dispatch({ type: 'chat', messages: [], image: null })
                } catch (e) {
                  setError(e)
                }
              }}
            >
              {t.startOver}
            </button>
          )}
        </div>
      </div>
    </div>
  )
}

function Message({
  m,
  previous,
  isCurrent,
  hasImage,
  onApply,
  onRestore,
  cost,
}: {
  m: ChatMessage
  previous?: ChatMessage
  isCurrent: boolean
  hasImage: boolean
  onApply: (id: string, prompt?: string) => void
  onRestore: (generationId: string) => void
  cost: number
}) {
  const mine = m.role === 'user'
  const result = m.kind === 'image' && !mine && m.image_url && m.generation_id
  return (
    <li className={`flex ${mine ? 'justify-end' : 'justify-start'}`} data-testid={`msg-${m.role}-${m.kind}`}>
      <div
        className={`${result || m.variants.length > 0 ? 'w-full' : 'max-w-[85%]'} min-w-0 rounded-2xl px-3 py-2 ${
          mine ? 'bg-accent text-accent-text' : m.kind === 'error' ? 'bg-danger-soft' : 'bg-section'
        }`}
      >
        {result ? (
          <EditResult m={m} previous={previous} isCurrent={isCurrent} onRestore={onRestore} />
        ) : (
          m.image_url && <img src={m.image_url} alt="" className="mb-2 max-h-64 rounded-xl" />
        )}
        {m.text && <p className="whitespace-pre-wrap text-sm">{m.text}</p>}
        {m.variants.length > 0 && (
          <div className="mt-2 flex flex-col gap-2">
            {m.variants.map((v) => (
              <Variant key={v.id} variant={v} cost={cost} hasImage={hasImage} onApply={onApply} />
            ))}
          </div>
        )}
      </div>
    </li>
  )
}

/** An edit's result: the picture (or before/after), download, send, and going back to it. */
function EditResult({
  m,
  previous,
  isCurrent,
  onRestore,
}: {
  m: ChatMessage
  previous?: ChatMessage
  isCurrent: boolean
  onRestore: (generationId: string) => void
}) {
  const { t } = useApp()
  const [compare, setCompare] = useState(false)
  const generation = m.generation_id ?? ''
  return (
    <div className="flex flex-col gap-2 pb-1" data-testid="edit-result">
      {compare && previous?.image_url ? (
        <div className="grid grid-cols-2 gap-2" data-testid="compare">
          <figure className="flex min-w-0 flex-col gap-1">
            <ImageBox src={previous.image_url} alt={t.before} />
            <figcaption className="text-center text-sm text-hint">{t.before}</figcaption>
          </figure>
          <figure className="flex min-w-0 flex-col gap-1">
            <ImageBox src={m.image_url} alt={t.after} />
            <figcaption className="text-center text-sm text-hint">{t.after}</figcaption>
          </figure>
        </div>
      ) : (
        <ImageBox src={m.image_url} alt={t.result} />
      )}
      {isCurrent && <p className="text-sm text-hint">{t.currentVersion}</p>}
      <ResultActions id={generation} url={m.image_url ?? ''} />
      <div className="flex flex-wrap gap-x-5">
        {previous?.image_url && (
          <button type="button" className="min-h-11 text-sm font-medium text-link" data-testid="compare-toggle" onClick={() => setCompare((c) => !c)}>
            {compare ? t.hideCompare : t.compare}
          </button>
        )}
        {!isCurrent && (
          <button type="button" className="min-h-11 text-sm font-medium text-link" data-testid="restore-version" onClick={() => onRestore(generation)}>
            {t.editThisVersion}
          </button>
        )}
      </div>
    </div>
  )
}

/** One assistant variant: its title and description in the user's language; the English prompt
 *  for the image model only when the user chooses to edit it. */
function Variant({
  variant,
  cost,
  hasImage,
  onApply,
}: {
  variant: ChatMessage['variants'][number]
  cost: number
  hasImage: boolean
  onApply: (id: string, prompt?: string) => void
}) {
  const { t } = useApp()
  const [editing, setEditing] = useState(false)
  const [prompt, setPrompt] = useState(variant.prompt)
  const edited = prompt.trim() !== variant.prompt.trim() && prompt.trim() !== ''
  return (
    <div className="rounded-xl bg-field p-3" data-testid="variant">
      <p className="text-sm font-medium">{variant.title}</p>
      {variant.description && <p className="mt-0.5 text-sm">{variant.description}</p>}
      {editing && (
        <textarea
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          aria-label={`${t.editPrompt}: ${variant.title}`}
          data-testid="variant-prompt"
          maxLength={2000}
          rows={4}
          className="mt-2 w-full rounded-lg bg-section p-2 text-sm focus:outline-none focus-visible:ring-2 focus-visible:ring-accent"
        />
      )}
      <div className="mt-2 flex flex-col gap-1">
        <Button testId="apply-variant" disabled={!hasImage} onClick={() => onApply(variant.id, edited ? prompt.trim() : undefined)}>
          {t.applyVariant(cost)}
        </Button>
        <button type="button" className="min-h-11 text-sm font-medium text-link" aria-expanded={editing} onClick={() => setEditing((e) => !e)}>
          {editing ? t.hidePrompt : t.editPrompt}
        </button>
      </div>
    </div>
  )
}
