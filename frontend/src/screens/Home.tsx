import { useApp } from '../app-context'
import { Icon } from '../components/icons'
import { Card } from '../components/ui'

/** `sub_standard` → `Standard` (the catalogue's titles are the same words). */
function planTitle(product: string): string {
  const name = product.replace(/^sub_/, '')
  return name.charAt(0).toUpperCase() + name.slice(1)
}

export function Home() {
  const { state, t, go } = useApp()
  const b = state.balance
  const plan = state.me?.plan
  const lang = state.me?.user.language_code === 'en' ? 'en-GB' : 'ru-RU'
  return (
    <div className="flex flex-col gap-4">
      <Card>
        <p className="text-sm text-hint">{t.balance}</p>
        <p data-testid="balance-total" className="text-3xl font-semibold">
          {b ? t.credits(b.total) : '…'}
        </p>
        {b && (
          <dl className="mt-3 grid grid-cols-3 gap-2 text-center text-sm">
            {(['free', 'subscription', 'purchased'] as const).map((k) => (
              <div key={k} className="rounded-xl bg-bg p-2">
                <dt className="text-hint">{t.buckets[k]}</dt>
                <dd className="font-medium">{b[k]}</dd>
              </div>
            ))}
          </dl>
        )}
        {b?.free_resets_at && (
          <p className="mt-2 text-xs text-hint">{t.freeResets(new Date(b.free_resets_at).toLocaleDateString(lang, { timeZone: 'Europe/Moscow' }))}</p>
        )}
        <button
          type="button"
          data-testid="home-plan"
          onClick={() => go('plans')}
          className="mt-3 w-full rounded-xl bg-bg p-2 text-left text-sm"
        >
          {plan
            ? t.currentPlan(planTitle(plan.product), new Date(plan.period_end).toLocaleDateString(lang))
            : t.freePlan}
          <span className="ml-1 text-link">{t.plans} →</span>
        </button>
      </Card>
      <button data-testid="go-tryon" onClick={() => go('tryon')} className="text-left">
        <Card className="transition active:scale-[0.99]">
          <p className="flex items-center gap-2 text-lg font-semibold">
            <Icon name="tryon" className="h-6 w-6 text-accent" /> {t.homeTryonTitle}
          </p>
          <p className="mt-1 text-sm text-hint">{t.homeTryonText}</p>
        </Card>
      </button>
      <button data-testid="go-editor" onClick={() => go('editor')} className="text-left">
        <Card className="transition active:scale-[0.99]">
          <p className="flex items-center gap-2 text-lg font-semibold">
            <Icon name="editor" className="h-6 w-6 text-accent" /> {t.homeEditorTitle}
          </p>
          <p className="mt-1 text-sm text-hint">{t.homeEditorText}</p>
        </Card>
      </button>
      {b && b.subscription + b.purchased === 0 && <p className="text-xs text-hint">{t.watermarkNote}</p>}
      {state.me?.demo && <p className="text-xs text-hint">{t.demo}</p>}
    </div>
  )
}
