import { useState } from 'react'
import { confirmAction, downloadInTelegram, downloadUrl } from '../telegram'
import { api, type Generation } from '../api'
import { useApp } from '../app-context'
import { Button, ErrorBox, Spinner } from '../components/ui'
import { usePagedList } from '../components/usePagedList'

export function Gallery() {
  const { t } = useApp()
  const paged = usePagedList(api.generations)
  const { cursor, loading, error, setError, load } = paged
  const items = paged.items ?? []
  const setItems = (update: (old: Generation[]) => Generation[]) => paged.setItems((old) => update(old ?? []))
  const [open, setOpen] = useState<Generation | null>(null)
  const [sent, setSent] = useState(false)

  if (open) {
    return (
      <div className="flex flex-col gap-3">
        <button
          className="self-start text-link"
          onClick={() => {
            setError(null)
            setOpen(null)
          }}
        >
          ← {t.back}
        </button>
        {open.result_url && <img src={open.result_url} alt={t.result} className="w-full rounded-2xl" />}
        {open.watermarked && <p className="text-xs text-hint">{t.watermarked}</p>}
        {error !== null && <ErrorBox error={error} />}
        {open.result_url && (
          <a
            href={downloadUrl(open.result_url)}
            download
            className="w-full rounded-xl bg-bg-2 px-4 py-3 text-center font-medium"
            onClick={(e) => {
              if (downloadInTelegram(open.result_url ?? '')) e.preventDefault()
            }}
          >
            {t.download}
          </a>
        )}
        <Button
          variant="secondary"
          disabled={sent}
          onClick={async () => {
            setError(null)
            try {
              await api.sendGeneration(open.id)
              setSent(true)
            } catch (e) {
              setError(e)
            }
          }}
        >
          {sent ? t.sent : t.sendToChat}
        </Button>
        <Button
          variant="danger"
          onClick={async () => {
            if (!(await confirmAction(t.confirmDelete))) return
            setError(null)
            try {
              await api.deleteGeneration(open.id)
              setItems((old) => old.filter((g) => g.id !== open.id))
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
      {!loading && items.length === 0 && error === null && (
        <p className="rounded-xl bg-bg-2 p-4 text-center text-hint">{t.emptyGallery}</p>
      )}
      <ul className="grid grid-cols-2 gap-2" data-testid="gallery">
        {items.map((g) => (
          <li key={g.id}>
            {g.status === 'succeeded' && g.result_url ? (
              <button
                className="block w-full"
                aria-label={`${t.open}: ${new Date(g.created_at).toLocaleString()}`}
                onClick={() => {
                  setSent(false)
                  setError(null)
                  setOpen(g)
                }}
              >
                <img src={g.result_url} alt="" loading="lazy" className="aspect-[3/4] w-full rounded-xl object-cover" />
              </button>
            ) : (
              <div className="flex aspect-[3/4] flex-col items-center justify-center rounded-xl bg-bg-2 p-2 text-center text-xs text-hint">
                {g.status === 'failed' ? (
                  <>
                    <span className="text-danger">{t.failed}</span>
                    {g.refunded && <span>{t.creditsReturned}</span>}
                  </>
                ) : (
                  <Spinner />
                )}
              </div>
            )}
          </li>
        ))}
      </ul>
      {loading && <Spinner label={t.loading} />}
      {cursor && !loading && (
        <Button variant="secondary" onClick={() => void load(cursor)}>
          {t.loadMore}
        </Button>
      )}
    </div>
  )
}
