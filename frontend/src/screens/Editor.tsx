import { useEffect, useRef, useState } from 'react'
import { api, type ChatMessage, type Upload } from '../api'
import { useApp } from '../app-context'
import { Icon } from '../components/icons'
import { JobProgress } from '../components/JobProgress'
import { Button, ErrorBox, Spinner } from '../components/ui'
import { haptic } from '../telegram'

export function Editor() {
  const { state, dispatch, t } = useApp()
  const [text, setText] = useState('')
  const [attached, setAttached] = useState<Upload | null>(null)
  const [attaching, setAttaching] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [jobs, setJobs] = useState<string[]>([])
  const [loaded, setLoaded] = useState(false)
  const file = useRef<HTMLInputElement>(null)
  const bottom = useRef<HTMLDivElement>(null)
  const prices = state.me?.prices

  useEffect(() => {
    api
      .chat()
      .then((chat) => dispatch({ type: 'chat', messages: chat.messages }))
      .catch(setError)
      .finally(() => setLoaded(true))
  }, [dispatch])

  useEffect(() => {
    bottom.current?.scrollIntoView?.({ behavior: 'smooth' })
  }, [state.chat.length, jobs.length])

  const send = async () => {
    const value = text.trim()
    if (!value) return
    setBusy(true)
    setError(null)
    try {
      const reply = await api.say(value, attached?.upload_id)
      for (const m of [reply.user_message, reply.message]) {
        dispatch({ type: 'event', event: { type: 'chat.message', data: m as unknown as Record<string, unknown> } })
      }
      setText('')
      setAttached(null)
      haptic(reply.charged ? 'success' : 'error')
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  const apply = async (variantId: string) => {
    setError(null)
    try {
      const accepted = await api.applyVariant(variantId)
      setJobs((j) => [...j, accepted.generation_id])
    } catch (e) {
      setError(e)
    }
  }

  const attach = async (f: File | undefined) => {
    if (!f) return
    setAttaching(true)
    setError(null)
    try {
      setAttached(await api.upload(f, f.name))
    } catch (e) {
      setError(e)
    } finally {
      setAttaching(false)
      if (file.current) file.current.value = ''
    }
  }

  const activeJobs = jobs.filter((id) => state.jobs[id]?.status !== 'succeeded')

  return (
    <div className="flex min-h-[70vh] flex-col gap-3">
      {!loaded && <Spinner label={t.loading} />}
      {loaded && state.chat.length === 0 && <p className="rounded-xl bg-bg-2 p-3 text-sm text-hint">{t.chatEmpty}</p>}
      <ol className="flex flex-col gap-3" data-testid="chat">
        {state.chat.map((m) => (
          <Message key={m.id} m={m} onApply={apply} cost={prices?.edit_generation ?? 1} />
        ))}
      </ol>
      {activeJobs.map((id) => (
        <JobProgress key={id} id={id} />
      ))}
      {error !== null && <ErrorBox error={error} />}
      <div ref={bottom} />
      <div className="sticky bottom-16 mt-auto flex flex-col gap-2 rounded-2xl bg-bg p-2 shadow">
        {attaching && <Spinner label={t.uploading} />}
        {attached && (
          <div className="flex items-center gap-2 text-sm">
            <img src={attached.url} alt="" data-testid="attached" className="h-12 w-12 rounded-lg object-cover" />
            <button className="text-danger" onClick={() => setAttached(null)}>
              {t.remove}
            </button>
          </div>
        )}
        <div className="flex gap-2">
          <button
            type="button"
            aria-label={t.attach}
            data-testid="attach"
            onClick={() => file.current?.click()}
            className="rounded-xl bg-bg-2 px-3 text-hint"
          >
            <Icon name="attach" />
          </button>
          <input
            ref={file}
            type="file"
            accept="image/jpeg,image/png"
            className="hidden"
            data-testid="attach-input"
            onChange={(e) => void attach(e.target.files?.[0])}
          />
          <textarea
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder={t.chatPlaceholder}
            aria-label={t.chatPlaceholder}
            data-testid="chat-input"
            maxLength={1000}
            rows={1}
            className="min-h-[44px] flex-1 resize-none rounded-xl bg-bg-2 px-3 py-2 outline-none"
          />
          <button
            type="button"
            data-testid="chat-send"
            disabled={busy || attaching || !text.trim()}
            onClick={() => void send()}
            className="rounded-xl bg-accent px-4 text-accent-text disabled:opacity-50"
          >
            {busy ? '…' : t.send}
          </button>
        </div>
        <div className="flex justify-between text-xs text-hint">
          <span>{t.messageCost(prices?.chat_message ?? 1)}</span>
          {state.chat.length > 0 && (
            <button
              className="text-link"
              onClick={async () => {
                if (!window.confirm(t.confirmStartOver)) return
                await api.clearChat()
                dispatch({ type: 'chat', messages: [] })
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

function Message({ m, onApply, cost }: { m: ChatMessage; onApply: (id: string) => void; cost: number }) {
  const { t } = useApp()
  const mine = m.role === 'user'
  return (
    <li className={`flex ${mine ? 'justify-end' : 'justify-start'}`} data-testid={`msg-${m.role}-${m.kind}`}>
      <div
        className={`max-w-[85%] rounded-2xl px-3 py-2 ${
          mine ? 'bg-accent text-accent-text' : m.kind === 'error' ? 'border border-danger/40 bg-danger/10' : 'bg-bg-2'
        }`}
      >
        {m.image_url && <img src={m.image_url} alt="" className="mb-2 max-h-80 rounded-xl" />}
        {m.text && <p className="whitespace-pre-wrap text-sm">{m.text}</p>}
        {m.variants.length > 0 && (
          <div className="mt-2 flex flex-col gap-2">
            {m.variants.map((v) => (
              <div key={v.id} className="rounded-xl bg-bg p-2">
                <p className="text-sm font-medium">{v.title}</p>
                <div className="mt-1">
                  <Button testId="apply-variant" onClick={() => onApply(v.id)}>
                    {t.applyVariant(cost)}
                  </Button>
                </div>
              </div>
            ))}
          </div>
        )}
      </div>
    </li>
  )
}
