import { useApp } from '../app-context'
import { Icon } from '../components/icons'
import { Card } from '../components/ui'

export function Home() {
  const { state, t, go } = useApp()
  const b = state.balance
  const plan = state.me?.plan
  const locale = state.me?.user.language_code === 'en' ? 'en-GB' : 'ru-RU'
  return (
    <div className="flex flex-col gap-3">
      <Card>
        <p className="text-sm text-hint">{t.balance}</p>
        <p data-testid="balance-total" className="text-3xl font-semibold">
          {b ? t.credits(b.total) : '…'}
        </p>
        {b && (
          <dl className="mt-3 flex flex-col divide-y divide-line rounded-xl bg-field px-3 text-sm">
            {(['free', 'subscription', 'purchased'] as const).map((k) => (
              <div key={k} className="flex items-center justify-between gap-2 py-2">
                <dt className="min-w-0 text-hint">{t.buckets[k]}</dt>
                <dd className="font-medium tabular-nums">{b[k]}</dd>
              </div>
            ))}
          </dl>
        )}
        {b?.free_resets_at && (
          <p className="mt-2 text-sm text-hint">{t.freeResets(new Date(b.free_resets_at).toLocaleDateString(locale, { timeZone: 'Europe/Moscow' }))}</p>
        )}
        <button
          type="button"
          data-testid="home-plan"
          onClick={() => go('plans')}
          className="mt-2 flex min-h-11 w-full items-center justify-between gap-2 text-left text-sm"
        >
          <span className="min-w-0">{plan ? t.planUntil(new Date(plan.period_end).toLocaleDateString(locale)) : t.freePlan}</span>
          <span className="shrink-0 font-medium text-link">{t.plans} →</span>
        </button>
      </Card>
      <button data-testid="go-tryon" onClick={() => go('tryon')} className="text-left">
        <Card className="transition-transform active:scale-[0.99]">
          <p className="flex items-center gap-2 text-lg font-semibold">
            <Icon name="tryon" className="h-6 w-6 shrink-0 text-accent-fg" /> {t.homeTryonTitle}
          </p>
          <p className="mt-1 text-sm text-hint">{t.homeTryonText}</p>
        </Card>
      </button>
      <button data-testid="go-editor" onClick={() => go('editor')} className="text-left">
        <Card className="transition-transform active:scale-[0.99]">
          <p className="flex items-center gap-2 text-lg font-semibold">
            <Icon name="editor" className="h-6 w-6 shrink-0 text-accent-fg" /> {t.homeEditorTitle}
          </p>
          <p className="mt-1 text-sm text-hint">{t.homeEditorText}</p>
        </Card>
      </button>
      {b && b.subscription + b.purchased === 0 && <p className="px-1 text-sm text-hint">{t.watermarkNote}</p>}
      {state.me?.demo && <p className="px-1 text-sm text-hint">{t.demo}</p>}
    </div>
  )
}
