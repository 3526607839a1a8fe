import { useCallback, useEffect, useState } from 'react'
import { api, ApiError, type Consents, type Payment, type Product } from '../api'
import { useApp } from '../app-context'
import { CancelPlanButton } from '../components/CancelPlan'
import { useGrowth } from '../i18n-growth'
import { Icon } from '../components/icons'
import { Button, Card, ErrorBox, ScreenSkeleton, SectionTitle } from '../components/ui'
import { wantDocument } from '../legal'
import { formatRub, usePayment } from '../payments'
import { haptic, insideTelegram, openExternal, openInvoice } from '../telegram'

/** Packs and plans. Inside Telegram Stars come first (Telegram's rule for digital goods), a card
 *  payment second (YooKassa's page opens in the browser; this screen follows the payment).
 *  `paymentId` is a payment to follow from the start: the return from YooKassa
 *  (`/plans?payment=`) or the Mini App reopened with `startapp=paid_<id>`. */
export function Plans({ paymentId = null }: { paymentId?: string | null }) {
  const { state, t, refreshMe, go } = useApp()
  const growth = useGrowth()
  const lang = state.me?.user.language_code === 'en' ? 'en' : 'ru'
  const [products, setProducts] = useState<Product[] | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState<string | null>(null)
  const [following, setFollowing] = useState<string | null>(paymentId)
  const settled = useCallback(
    (p: Payment) => {
      haptic(p.status === 'succeeded' ? 'success' : 'error')
      void refreshMe()
    },
    [refreshMe],
  )
  const { payment, error: paymentError } = usePayment(following, api.payment, settled)

  const loadPlans = useCallback(() => {
    api
      .plans()
      .then((p) => setProducts(p.products))
      .catch(setError)
  }, [])
  useEffect(loadPlans, [loadPlans])

  // A first subscription needs the explicit, unticked consent to automatic renewal next to it.
  const [consents, setConsents] = useState<Consents | null>(null)
  const [ticked, setTicked] = useState<Record<string, boolean>>({})
  const loadConsents = useCallback(() => api.consents().then(setConsents), [])
  useEffect(() => {
    loadConsents().catch(() => undefined)
  }, [loadConsents])
  const needsRenewalConsent = consents === null || consents.missing.includes('autorenew')
  const blocked = (p: Product) => p.kind === 'subscription' && needsRenewalConsent && !ticked[p.id]
  /** Records the ticked renewal consent before the first subscription is bought. */
  const consentFirst = async (p: Product) => {
    if (p.kind !== 'subscription' || !needsRenewalConsent) return
    const current = consents ?? (await api.consents())
    await api.giveConsent('autorenew', current.versions.autorenew ?? '')
    await loadConsents()
  }

  // Handled once: a reload must not announce the payment again.
  useEffect(() => {
    if (!payment || !new URLSearchParams(location.search).has('payment')) return
    history.replaceState(history.state, '', `${location.pathname}${location.hash}`)
  }, [payment])

  const buyStars = async (product: Product) => {
    setBusy(product.id)
    setError(null)
    try {
      await consentFirst(product)
      const p = await api.buy(product.id, 'stars')
      if (!p.invoice_link) throw new Error('no invoice link')
      const status = await openInvoice(p.invoice_link)
      // The credits arrive with Telegram's confirmation to the bot; follow our payment until then.
      if (status === 'paid' || status === 'pending') setFollowing(p.payment_id)
      else if (status === 'failed') {
        haptic('error')
        setError(new ApiError(0, 'invoice_failed', t.starsFailed))
      }
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(null)
    }
  }

  const buyCard = async (product: Product) => {
    setBusy(product.id)
    setError(null)
    try {
      await consentFirst(product)
      const p = await api.buy(product.id)
      if (!p.confirmation_url) throw new Error('no confirmation url')
      // Inside Telegram the page opens in the browser and this screen follows the payment.
      if (insideTelegram()) setFollowing(p.payment_id)
      openExternal(p.confirmation_url)
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(null)
    }
  }

  const plan = state.me?.plan
  const tryonPrice = state.me?.prices.tryon ?? 2
  const stars = insideTelegram()

  const card = (p: Product) => {
    const full = formatRub(p.price_kopecks ?? Math.round(Number(p.price_rub) * 100), lang)
    const discounted = p.discount_percent && p.discounted_price_rub ? formatRub(Math.round(Number(p.discounted_price_rub) * 100), lang) : null
    const price = discounted ?? full
    const current = p.kind === 'subscription' && plan?.product === p.id
    const withStars = stars && (p.stars_available ?? p.kind === 'pack') && p.available
    return (
      <Card key={p.id} testId={`product-${p.id}`} className="flex flex-col gap-3">
        <div className="flex items-start justify-between gap-2">
          <div className="min-w-0">
            <p className="font-semibold">{p.title}</p>
            <p className="text-sm text-hint">{p.kind === 'pack' ? t.neverExpire : t.perMonth(p.credits)}</p>
            <p className="text-sm text-hint">{t.tryonsApprox(Math.floor(p.credits / tryonPrice))}</p>
          </div>
          {current ? (
            <span data-testid="current-badge" className="shrink-0 rounded-full bg-accent px-2.5 py-1 text-sm font-medium text-accent-text">
              {t.yourPlan}
            </span>
          ) : (
            <span className="flex shrink-0 flex-col items-end">
              <span className="font-semibold" data-testid={`price-${p.id}`}>
                {price}
              </span>
              {discounted && (
                <span className="text-sm text-hint" data-testid={`discount-${p.id}`}>
                  <s>{full}</s> {growth.discount(p.discount_percent ?? 0)}
                </span>
              )}
            </span>
          )}
        </div>
        {p.kind === 'subscription' && p.available && needsRenewalConsent && !current && (
          <div className="flex flex-col gap-1" data-testid={`autorenew-${p.id}`}>
            <label className="flex min-h-11 items-center gap-3 text-sm">
              <input
                type="checkbox"
                data-testid={`autorenew-tick-${p.id}`}
                checked={ticked[p.id] ?? false}
                onChange={(e) => setTicked((all) => ({ ...all, [p.id]: e.target.checked }))}
                className="h-11 w-11 shrink-0 accent-[var(--app-accent)]"
              />
              <span>{t.autorenewAgree(withStars ? t.orStars(price, p.price_stars) : price, p.period_days ?? 30)}</span>
            </label>
            <button
              type="button"
              data-testid={`autorenew-terms-${p.id}`}
              className="min-h-11 self-start text-sm text-link underline"
              onClick={() => {
                wantDocument('autorenew')
                go('legal')
              }}
            >
              {t.autorenewTerms}
            </button>
          </div>
        )}
        {!p.available ? (
          <Button disabled>{t.soon}</Button>
        ) : (
          <div className="flex flex-col gap-2">
            {withStars && (
              <Button testId={`stars-${p.id}`} disabled={busy !== null || blocked(p)} onClick={() => void buyStars(p)}>
                {busy === p.id ? (
                  '…'
                ) : (
                  <span className="inline-flex items-center gap-1.5">
                    {t.buyStars(p.price_stars)}
                    <Icon name="star" className="h-4 w-4" filled />
                  </span>
                )}
              </Button>
            )}
            <Button
              testId={`buy-${p.id}`}
              variant={withStars ? 'secondary' : 'primary'}
              disabled={busy !== null || blocked(p)}
              onClick={() => void buyCard(p)}
            >
              {busy === p.id && !withStars ? '…' : withStars ? t.payByCard(price) : t.buy(price)}
            </Button>
          </div>
        )}
      </Card>
    )
  }

  return (
    <div className="flex flex-col gap-3" data-testid="plans">
      {payment && (
        <div
          role="status"
          data-testid={`payment-${payment.status}`}
          className={`rounded-2xl p-4 text-sm font-medium ${payment.status === 'succeeded' ? 'bg-accent text-accent-text' : 'bg-section'}`}
        >
          {payment.status === 'succeeded'
            ? t.paymentSucceeded(payment.credits)
            : payment.status === 'pending'
              ? t.paymentPending
              : t.paymentCanceled}
        </div>
      )}
      {paymentError !== null && !payment && <ErrorBox error={paymentError} />}
      {plan && (
        <Card testId="current-plan">
          <p className="font-medium">
            {t.currentPlan(
              products?.find((p) => p.id === plan.product)?.title ?? plan.product,
              new Date(plan.period_end).toLocaleDateString(lang === 'en' ? 'en-GB' : 'ru-RU'),
            )}
          </p>
          <p className="text-sm text-hint">{plan.auto_renew ? t.renews : t.noRenew}</p>
          {plan.auto_renew && (
            <div className="mt-2">
              <CancelPlanButton onError={setError} />
            </div>
          )}
        </Card>
      )}
      {error !== null && <ErrorBox error={error} />}
      {!products && error === null && <ScreenSkeleton label={t.loading} />}
      {products && (
        <>
          <SectionTitle>{t.packs}</SectionTitle>
          {products.filter((p) => p.kind === 'pack').map(card)}
          <SectionTitle>{t.subscriptions}</SectionTitle>
          {products.filter((p) => p.kind === 'subscription').map(card)}
        </>
      )}
      <PromoCode products={products} onRedeemed={(credits) => (credits ? void refreshMe() : loadPlans())} />
      <p className="px-1 text-sm text-hint">{t.noWatermarkPaid}</p>
    </div>
  )
}

/** A promo code: credits at once, or a discount shown on its product until the next card payment. */
function PromoCode({ products, onRedeemed }: { products: Product[] | null; onRedeemed: (credits: boolean) => void }) {
  const g = useGrowth()
  const [code, setCode] = useState('')
  const [busy, setBusy] = useState(false)
  const [done, setDone] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const submit = async () => {
    if (!code.trim()) return
    setBusy(true)
    setError(null)
    setDone(null)
    try {
      const r = await api.redeemPromo(code.trim())
      if (r.credits) setDone(g.promoCredits(r.credits))
      else if (r.discount_percent && r.product) {
        setDone(g.promoDiscount(r.discount_percent, products?.find((p) => p.id === r.product)?.title ?? r.product))
      }
      haptic('success')
      setCode('')
      onRedeemed(Boolean(r.credits))
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <SectionTitle id="promo-title">{g.promo}</SectionTitle>
      <Card testId="promo" className="flex flex-col gap-2">
        <form
          className="flex gap-2"
          onSubmit={(e) => {
            e.preventDefault()
            void submit()
          }}
        >
          <input
            data-testid="promo-input"
            aria-labelledby="promo-title"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            placeholder={g.promoPlaceholder}
            autoCapitalize="characters"
            autoComplete="off"
            maxLength={32}
            className="min-h-11 min-w-0 flex-1 rounded-xl bg-field px-3 uppercase placeholder:normal-case placeholder:text-hint"
          />
          <Button type="submit" testId="promo-apply" disabled={busy || !code.trim()} className="!w-auto shrink-0">
            {g.promoApply}
          </Button>
        </form>
        {done && (
          <p role="status" data-testid="promo-done" className="text-sm font-medium text-accent-fg">
            {done}
          </p>
        )}
        {error !== null && <ErrorBox error={error} />}
      </Card>
    </>
  )
}
