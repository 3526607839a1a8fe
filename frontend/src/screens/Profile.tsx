import { useState } from 'react'
import { confirmAction } from '../telegram'
import { api } from '../api'
import { useApp } from '../app-context'
import { Button, Card, ErrorBox } from '../components/ui'

export function Profile({ onLanguage }: { onLanguage: (lang: 'ru' | 'en') => void }) {
  const { state, t, refreshMe, go } = useApp()
  const [error, setError] = useState<unknown>(null)
  const [deleted, setDeleted] = useState(false)
  const b = state.balance
  return (
    <div className="flex flex-col gap-4">
      <Card>
        <p className="font-semibold">{state.me?.user.first_name}</p>
        {b && (
          <p className="mt-1 text-sm text-hint" data-testid="profile-balance">
            {t.balance}: {t.credits(b.total)} ({t.buckets.free} {b.free} · {t.buckets.subscription} {b.subscription} ·{' '}
            {t.buckets.purchased} {b.purchased})
          </p>
        )}
      </Card>
      <Button testId="open-plans" onClick={() => go('plans')}>
        {t.plans}
      </Button>
      <p className="text-xs text-hint">{t.watermarkNote}</p>
      <Card>
        <p className="mb-2 font-medium">{t.language}</p>
        <div className="flex gap-2">
          {(['ru', 'en'] as const).map((l) => (
            <button
              key={l}
              aria-pressed={state.me?.user.language_code === l}
              className={`rounded-full px-4 py-1.5 ${state.me?.user.language_code === l ? 'bg-accent text-accent-text' : 'bg-bg'}`}
              onClick={async () => {
                try {
                  await api.setLanguage(l)
                  onLanguage(l)
                  await refreshMe()
                } catch (e) {
                  setError(e)
                }
              }}
            >
              {l === 'ru' ? 'Русский' : 'English'}
            </button>
          ))}
        </div>
      </Card>
      {error !== null && <ErrorBox error={error} />}
      {deleted ? (
        <p className="text-sm text-hint">{t.dataDeleted}</p>
      ) : (
        <Button
          variant="danger"
          onClick={async () => {
            if (!(await confirmAction(t.confirmDeleteData))) return
            try {
              await api.deleteMe()
              setDeleted(true)
            } catch (e) {
              setError(e)
            }
          }}
        >
          {t.deleteData}
        </Button>
      )}
    </div>
  )
}
