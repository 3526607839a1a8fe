import { useEffect, useState } from 'react'
import { api, type LedgerEntry, type Payment, type Product } from '../api'
import { useApp } from '../app-context'
import { Button, Card, ErrorBox, Spinner } from '../components/ui'
import { usePagedList } from '../components/usePagedList'
import { confirmAction, insideTelegram, tg } from '../telegram'

/** Packs and plans; buying opens YooKassa's page, which returns to /plans?payment=<id>. */
export function Plans() {
  const { state, t, refreshMe } = useApp()
  const [products, setProducts] = useState<Product[] | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [payment, setPayment] = useState<Payment | null>(null)
  const [busy, setBusy] = useState<string | null>(null)

  useEffect(() => {
    api
      .plans()
      .then((p) => setProducts(p.products))
      .catch(setError)
  }, [])

  // Back from the payment page: poll our payment until it settles.
  useEffect(() => {
    const id = new URLSearchParams(location.search).get('payment')
    if (!id) return
    let stop = false
    const poll = async (attempt: number) => {
      try {
        const p = await api.payment(id)
        if (stop) return
        setPayment(p)
        if (p.status === 'pending' && attempt < 40) setTimeout(() => void poll(attempt + 1), 1500)
        else if (p.status === 'succeeded') void refreshMe()
      } catch (e) {
        setError(e)
      }
    }
    void poll(0)
    return () => {
      stop = true
    }
  }, [refreshMe])

  const buyStars = async (product: Product) => {
    setBusy(product.id)
    setError(null)
    try {
      const p = await api.buy(product.id, 'stars')
      if (!p.invoice_link) throw new Error('no invoice link')
      tg.openInvoice(p.invoice_link, (status) => {
        if (status === 'paid') {
          setPayment({ ...p, status: 'pending' })
          // The credits arrive with Telegram's confirmation; poll our payment until then.
          const poll = async (attempt: number) => {
            try {
              const fresh = await api.payment(p.payment_id)
              setPayment(fresh)
              if (fresh.status === 'pending' && attempt < 20) setTimeout(() => void poll(attempt + 1), 1500)
              else void refreshMe()
            } catch (e) {
              setError(e)
            }
          }
          void poll(0)
        }
      })
    } catch (e) {
      setError(e)
    } finally {
      setBusy(null)
    }
  }

  const buy = async (product: Product) => {
    setBusy(product.id)
    setError(null)
    try {
      const p = await api.buy(product.id)
      if (!p.confirmation_url) throw new Error('no confirmation url')
      if (insideTelegram()) tg.openLink(p.confirmation_url)
      else location.assign(p.confirmation_url)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(null)
    }
  }

  const section = (kind: Product['kind'], title: string) => (
    <section className="flex flex-col gap-2">
      <h2 className="font-semibold">{title}</h2>
      {products
        ?.filter((p) => p.kind === kind)
        .map((p) => (
          <Card key={p.id} className="flex items-center justify-between gap-3">
            <div>
              <p className="font-medium">{p.title}</p>
              <p className="text-sm text-hint">{kind === 'pack' ? t.credits(p.credits) : t.perMonth(p.credits)}</p>
            </div>
            <div className="flex w-40 flex-col gap-1">
              <Button testId={`buy-${p.id}`} disabled={!p.available || busy !== null} onClick={() => void buy(p)}>
                {p.available ? (busy === p.id ? '…' : t.buy(p.price_rub)) : t.soon}
              </Button>
              {(p.stars_available ?? kind === 'pack') && insideTelegram() && (
                <Button variant="secondary" disabled={busy !== null} onClick={() => void buyStars(p)}>
                  {t.buyStars(p.price_stars)}
                </Button>
              )}
            </div>
          </Card>
        ))}
    </section>
  )

  return (
    <div className="flex flex-col gap-4" data-testid="plans">
      {payment && (
        <div
          role="status"
          data-testid={`payment-${payment.status}`}
          className={`rounded-xl p-3 text-sm ${payment.status === 'succeeded' ? 'bg-accent text-accent-text' : 'bg-bg-2'}`}
        >
          {payment.status === 'succeeded'
            ? t.paymentSucceeded(payment.credits)
            : payment.status === 'pending'
              ? t.paymentPending
              : t.paymentCanceled}
        </div>
      )}
      {state.me?.plan && (
        <Card>
          <p className="font-medium" data-testid="current-plan">
            {t.currentPlan(
              products?.find((p) => p.id === state.me?.plan?.product)?.title ?? state.me.plan.product,
              new Date(state.me.plan.period_end).toLocaleDateString(state.me.user.language_code === 'en' ? 'en-GB' : 'ru-RU'),
            )}
          </p>
          <p className="text-sm text-hint">{state.me.plan.auto_renew ? t.renews : t.noRenew}</p>
          {state.me.plan.auto_renew && (
            <div className="mt-2">
              <Button
                variant="secondary"
                testId="cancel-plan"
                onClick={async () => {
                  if (!(await confirmAction(t.confirmCancelPlan))) return
                  try {
                    await api.cancelPlan()
                    await refreshMe()
                  } catch (e) {
                    setError(e)
                  }
                }}
              >
                {t.cancelPlan}
              </Button>
            </div>
          )}
        </Card>
      )}
      {error !== null && <ErrorBox error={error} />}
      {!products && error === null && <Spinner label={t.loading} />}
      {products && section('pack', t.packs)}
      {products && section('subscription', t.subscriptions)}
      <p className="text-xs text-hint">{t.noWatermarkPaid}</p>
      <Ledger key={state.balance?.total ?? state.me?.balance.total} />
    </div>
  )
}

/** The user's credit movements ("charged 2 for try-on", "refunded 2: generation failed"), newest first.
 *  Keyed by the balance, so it reloads when credits move. */
function Ledger() {
  const { t } = useApp()
  const { items, cursor, error, loading, load } = usePagedList<LedgerEntry>(api.ledger)

  return (
    <section className="flex flex-col gap-2" data-testid="ledger" aria-labelledby="ledger-title">
      <h2 id="ledger-title" className="font-semibold">
        {t.ledger}
      </h2>
      {error !== null && <ErrorBox error={error} />}
      {items === null && error === null && <Spinner label={t.loading} />}
      {items?.length === 0 && <p className="text-sm text-hint">{t.ledgerEmpty}</p>}
      {items && items.length > 0 && (
        <ul className="flex flex-col divide-y divide-line rounded-xl bg-bg-2 px-3">
          {items.map((e) => (
            <li key={e.id} className="flex items-center justify-between gap-3 py-2 text-sm">
              <span>
                {e.description}
                <span className="block text-xs text-hint">{new Date(e.created_at).toLocaleString()}</span>
              </span>
              <span className={`font-medium tabular-nums ${e.amount < 0 ? 'text-hint' : 'text-accent'}`}>
                {e.amount > 0 ? `+${e.amount}` : e.amount}
              </span>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <Button variant="secondary" disabled={loading} onClick={() => void load(cursor)}>
          {loading ? t.loading : t.more}
        </Button>
      )}
    </section>
  )
}
