import { useCallback, useEffect, useState, type ReactNode } from 'react'
import { adminApi, npdGauge, type Figures, type Promo, type Revenue, type Stats } from '../admin-api'
import { api, type Product } from '../api'
import { useApp } from '../app-context'
import { useGrowth } from '../i18n-growth'
import { Button, Card, ErrorBox, ScreenSkeleton, SectionTitle } from '../components/ui'
import { haptic } from '../telegram'

/** The operator's screen (configured operator ids only: the server answers 403 to anyone else,
 *  and the entry is shown only to operators): today's and the month's figures, the providers'
 *  health, the month's revenue with the НПД cap, the ledger check, grants, refunds, promo codes. */
export function Admin() {
  const { state, t } = useApp()
  const g = useGrowth()
  const [stats, setStats] = useState<Stats | null>(null)
  const [revenue, setRevenue] = useState<Revenue | null>(null)
  const [error, setError] = useState<unknown>(null)
  const load = useCallback(() => {
    // The month is the server's (Moscow) month, not the browser's: from 21:00 UTC on the last
    // day of a month a browser elsewhere would still ask for the month that has ended.
    adminApi
      .stats()
      .then((s) => {
        setStats(s)
        const today = s.date ?? localDate(new Date())
        return adminApi.revenue(`${today.slice(0, 8)}01`, today)
      })
      .then(setRevenue)
      .catch(setError)
  }, [])
  useEffect(load, [load])
  if (!state.me?.user.is_admin) return <ErrorBox error={error ?? new Error('forbidden')} />
  return (
    <div className="flex flex-col gap-3" data-testid="admin">
      {error !== null && <ErrorBox error={error} onRetry={load} />}
      {!stats && error === null && <ScreenSkeleton label={t.loading} />}
      {stats && <FiguresCard stats={stats} />}
      {stats && <Providers stats={stats} />}
      {revenue && <RevenueCard revenue={revenue} />}
      <LedgerCheck />
      <Grant />
      <Refund />
      <Promos />
      <p className="px-1 text-sm text-hint">{g.totals(stats?.users ?? 0, stats?.sessions_live ?? 0)}</p>
    </div>
  )
}

/** `YYYY-MM-DD` of the operator's own calendar day. */
function localDate(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

const rub = (kopecks: number) => (kopecks / 100).toLocaleString('ru-RU', { minimumFractionDigits: 2, maximumFractionDigits: 2 })

function FiguresCard({ stats }: { stats: Stats }) {
  const g = useGrowth()
  const keys: (keyof Figures)[] = ['new_users', 'active_users', 'generations', 'failures', 'assistant_calls', 'assistant_cost_usd']
  const show = (k: keyof Figures, f: Figures) => (k === 'assistant_cost_usd' ? f[k].toFixed(2) : String(f[k]))
  return (
    <Card testId="admin-figures" className="!p-0">
      <table className="w-full text-sm">
        <thead>
          <tr className="text-left text-header">
            <th className="px-4 py-2 font-medium" />
            <th className="px-2 py-2 text-right font-medium">{g.today}</th>
            <th className="px-4 py-2 text-right font-medium">{g.month}</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-line">
          {keys.map((k) => (
            <tr key={k} data-testid={`figure-${k}`}>
              <td className="px-4 py-2">{g.figures[k]}</td>
              <td className="px-2 py-2 text-right tabular-nums">{show(k, stats.today)}</td>
              <td className="px-4 py-2 text-right tabular-nums">{show(k, stats.month)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  )
}

function Providers({ stats }: { stats: Stats }) {
  const g = useGrowth()
  const p = stats.providers
  const line = (bad: boolean, text: string, testId: string) => (
    <li className="flex items-center gap-2 py-1.5" data-testid={testId}>
      <span aria-hidden="true" className={`h-2.5 w-2.5 shrink-0 rounded-full ${bad ? 'bg-danger' : 'bg-accent'}`} />
      <span className={bad ? 'font-medium text-danger' : ''}>{text}</span>
    </li>
  )
  return (
    <>
      <SectionTitle>{g.providers}</SectionTitle>
      <Card testId="admin-providers">
        <ul className="text-sm">
          {line(p.kie.errors_1h > 0, g.kieErrors(p.kie.errors_1h, p.kie.finished_1h), 'health-kie')}
          {line(p.openrouter.errors_1h > 0, g.openrouterErrors(p.openrouter.errors_1h, p.openrouter.calls_1h), 'health-openrouter')}
          {line(p.queue.queued >= p.queue.max * 0.8, g.queue(p.queue.queued, p.queue.running, p.queue.max), 'health-queue')}
        </ul>
      </Card>
    </>
  )
}

function RevenueCard({ revenue }: { revenue: Revenue }) {
  const g = useGrowth()
  const sum = (f: (l: Revenue['lines'][number]) => number) => revenue.lines.reduce((a, l) => a + f(l), 0)
  const gauge = npdGauge(revenue)
  return (
    <>
      <SectionTitle>{g.revenue}</SectionTitle>
      <Card testId="admin-revenue" className="flex flex-col gap-3">
        {revenue.lines.length === 0 ? (
          <p className="text-sm text-hint">{g.noRevenue}</p>
        ) : (
          <ul className="flex flex-col divide-y divide-line text-sm">
            {revenue.lines.map((l) => (
              <RevenueRow
                key={`${l.month}-${l.provider}-${l.product}`}
                title={l.product}
                note={`${l.provider} · ${l.payments}`}
                amounts={[l.gross_kopecks, l.commission_kopecks, l.tax_kopecks, l.net_kopecks]}
                refunds={l.refunded_payments ? g.refunds(l.refunded_payments, rub(l.refunded_kopecks ?? 0)) : undefined}
              />
            ))}
            <RevenueRow
              testId="revenue-total"
              strong
              title={g.revenueTotal}
              note={String(sum((l) => l.payments))}
              amounts={[sum((l) => l.gross_kopecks), sum((l) => l.commission_kopecks), sum((l) => l.tax_kopecks), sum((l) => l.net_kopecks)]}
            />
          </ul>
        )}
        {gauge && (
          <div data-testid="npd-gauge">
            <div className="flex items-baseline justify-between gap-2 text-sm">
              <span className="font-medium">{g.npdCap}</span>
              <span className="text-hint">{g.npdCapText(Number(gauge.income_rub).toLocaleString('ru-RU'), Number(gauge.cap_rub).toLocaleString('ru-RU'), gauge.percent)}</span>
            </div>
            <div
              className="mt-1.5 h-2.5 overflow-hidden rounded-full bg-field"
              role="progressbar"
              aria-label={g.npdCap}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(gauge.percent)}
            >
              <div className={`h-full rounded-full ${gauge.percent >= 90 || gauge.stopped ? 'bg-danger' : 'bg-accent'}`} style={{ width: `${Math.min(100, Math.max(1, gauge.percent))}%` }} />
            </div>
            {gauge.stopped && <p className="mt-1.5 text-sm font-medium text-danger">{g.npdStopped}</p>}
          </div>
        )}
      </Card>
    </>
  )
}

/** One line of the revenue report: gross, the provider's fee, the НПД tax and net, in roubles. */
function RevenueRow({ title, note, amounts, strong, testId, refunds }: { title: string; note: string; amounts: number[]; strong?: boolean; testId?: string; refunds?: string }) {
  const g = useGrowth()
  return (
    <li className="py-2" data-testid={testId}>
      <p className={`flex justify-between gap-2 ${strong ? 'font-semibold' : 'font-medium'}`}>
        <span className="min-w-0 break-all">{title}</span>
        <span className="shrink-0 text-hint">{note}</span>
      </p>
      <dl className="mt-1 grid grid-cols-2 gap-x-4 gap-y-0.5 tabular-nums">
        {amounts.map((a, i) => (
          <div key={i} className="flex justify-between gap-2">
            <dt className="text-hint">{g.revenueHead[i + 2]}</dt>
            <dd className={strong ? 'font-semibold' : ''}>{rub(a)}</dd>
          </div>
        ))}
      </dl>
      {refunds && <p className="mt-0.5 text-hint">{refunds}</p>}
    </li>
  )
}

/** A form card: a title, fields, one action, and what the action said. */
function Action({ title, testId, children, action, busy, result, error }: { title: string; testId: string; children: ReactNode; action: ReactNode; busy?: boolean; result: string | null; error: unknown }) {
  return (
    <>
      <SectionTitle>{title}</SectionTitle>
      <Card testId={testId} className="flex flex-col gap-2">
        {children}
        <div aria-busy={busy}>{action}</div>
        {result && (
          <p role="status" className="text-sm font-medium" data-testid={`${testId}-result`}>
            {result}
          </p>
        )}
        {error !== null && <ErrorBox error={error} />}
      </Card>
    </>
  )
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="flex flex-col gap-1 text-sm">
      <span className="text-hint">{label}</span>
      {children}
    </label>
  )
}

const input = 'min-h-11 w-full min-w-0 rounded-xl bg-field px-3 text-base'

/** Runs `run`, keeping what it said (or the error) and a busy flag. */
function useAction() {
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const run = async (work: () => Promise<string>) => {
    setBusy(true)
    setError(null)
    setResult(null)
    try {
      setResult(await work())
      haptic('success')
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return { busy, result, error, run }
}

function LedgerCheck() {
  const g = useGrowth()
  const a = useAction()
  return (
    <Action
      title={g.ledgerCheck}
      testId="admin-ledger"
      {...a}
      action={
        <Button variant="secondary" testId="admin-ledger-run" disabled={a.busy} onClick={() => void a.run(async () => {
          const r = await adminApi.ledgerCheck()
          return r.ok ? g.ledgerOk : g.ledgerBad(r.differences.length)
        })}>
          {g.runCheck}
        </Button>
      }
    >
      {null}
    </Action>
  )
}

function Grant() {
  const g = useGrowth()
  const [user, setUser] = useState('')
  const [credits, setCredits] = useState('')
  const [reason, setReason] = useState('')
  const a = useAction()
  const ready = /^\d+$/.test(user) && Number(credits) > 0 && reason.trim() !== ''
  return (
    <Action
      title={g.grant}
      testId="admin-grant"
      {...a}
      action={
        <Button testId="admin-grant-run" disabled={!ready || a.busy} onClick={() => void a.run(async () => {
          const r = await adminApi.grant(Number(user), Number(credits), reason.trim())
          return r.granted ? g.granted(r.credits) : g.alreadyGranted
        })}>
          {g.grant}
        </Button>
      }
    >
      <div className="grid grid-cols-2 gap-2">
        <Field label={g.telegramId}>
          <input data-testid="grant-user" inputMode="numeric" className={input} value={user} onChange={(e) => setUser(e.target.value.trim())} />
        </Field>
        <Field label={g.credits}>
          <input data-testid="grant-credits" inputMode="numeric" className={input} value={credits} onChange={(e) => setCredits(e.target.value.replace(/\D/g, ''))} />
        </Field>
      </div>
      <Field label={g.reason}>
        <input data-testid="grant-reason" className={input} value={reason} maxLength={200} onChange={(e) => setReason(e.target.value)} />
      </Field>
    </Action>
  )
}

function Refund() {
  const g = useGrowth()
  const [payment, setPayment] = useState('')
  const [reason, setReason] = useState('')
  const a = useAction()
  const ready = /^[0-9a-f-]{32,36}$/i.test(payment.trim()) && reason.trim() !== ''
  return (
    <Action
      title={g.refund}
      testId="admin-refund"
      {...a}
      action={
        <Button variant="danger" testId="admin-refund-run" disabled={!ready || a.busy} onClick={() => void a.run(async () => {
          const r = await adminApi.refund(payment.trim(), reason.trim())
          return g.refunded(r.credits_removed)
        })}>
          {g.doRefund}
        </Button>
      }
    >
      <Field label={g.paymentId}>
        <input data-testid="refund-payment" className={input} value={payment} onChange={(e) => setPayment(e.target.value)} />
      </Field>
      <Field label={g.reason}>
        <input data-testid="refund-reason" className={input} value={reason} maxLength={250} onChange={(e) => setReason(e.target.value)} />
      </Field>
    </Action>
  )
}

function Promos() {
  const g = useGrowth()
  const [items, setItems] = useState<Promo[] | null>(null)
  const [products, setProducts] = useState<Product[]>([])
  const [code, setCode] = useState('')
  const [kind, setKind] = useState<'credits' | 'discount'>('credits')
  const [amount, setAmount] = useState('')
  const [product, setProduct] = useState('')
  const [uses, setUses] = useState('1')
  const [expires, setExpires] = useState('')
  const a = useAction()
  const reload = useCallback(() => {
    adminApi.promos().then((r) => setItems(r.items)).catch(() => setItems([]))
  }, [])
  useEffect(() => {
    reload()
    api
      .plans()
      .then((p) => {
        setProducts(p.products)
        setProduct((current) => current || p.products[0]?.id || '')
      })
      .catch(() => undefined)
  }, [reload])
  const ready = code.trim().length >= 3 && Number(amount) > 0 && Number(uses) > 0 && (kind === 'credits' || product !== '')
  const create = () =>
    a.run(async () => {
      const made = await adminApi.createPromo({
        code: code.trim(),
        max_uses: Number(uses),
        ...(kind === 'credits' ? { credits: Number(amount) } : { discount_percent: Number(amount), product }),
        ...(expires ? { expires_at: new Date(`${expires}T23:59:59`).toISOString() } : {}),
      })
      setCode('')
      setAmount('')
      reload()
      return g.created(made.code)
    })
  return (
    <Action
      title={g.promoCodes}
      testId="admin-promo"
      {...a}
      action={
        <Button testId="admin-promo-create" disabled={!ready || a.busy} onClick={() => void create()}>
          {g.create}
        </Button>
      }
    >
      {items === null ? null : items.length === 0 ? (
        <p className="text-sm text-hint">{g.noPromo}</p>
      ) : (
        <ul className="flex flex-col divide-y divide-line text-sm" data-testid="promo-list">
          {items.map((p) => (
            <li key={p.code} className="flex items-center justify-between gap-2 py-2">
              <span className="min-w-0 break-all">
                <span className="font-medium">{p.code}</span>
                <span className="block text-hint">
                  {p.credits ? g.promoGives(p.credits) : `${g.discount(p.discount_percent ?? 0)} · ${p.product}`}
                  {p.expires_at ? ` · ${new Date(p.expires_at).toLocaleDateString()}` : ''}
                </span>
              </span>
              <span className="shrink-0 tabular-nums">{g.uses(p.uses, p.max_uses)}</span>
            </li>
          ))}
        </ul>
      )}
      <Field label={g.code}>
        <input data-testid="promo-code" className={`${input} uppercase`} value={code} maxLength={32} onChange={(e) => setCode(e.target.value)} />
      </Field>
      <div className="flex gap-2" role="radiogroup" aria-label={g.promoCodes}>
        {(['credits', 'discount'] as const).map((k) => (
          <button
            key={k}
            role="radio"
            aria-checked={kind === k}
            data-testid={`promo-kind-${k}`}
            onClick={() => setKind(k)}
            className={`min-h-11 flex-1 rounded-xl px-3 text-sm font-medium ${kind === k ? 'bg-accent text-accent-text' : 'bg-field'}`}
          >
            {k === 'credits' ? g.kindCredits : g.kindDiscount}
          </button>
        ))}
      </div>
      <div className="grid grid-cols-2 gap-2">
        <Field label={kind === 'credits' ? g.kindCredits : g.kindDiscount}>
          <input data-testid="promo-amount" inputMode="numeric" className={input} value={amount} onChange={(e) => setAmount(e.target.value.replace(/\D/g, ''))} />
        </Field>
        <Field label={g.maxUses}>
          <input data-testid="promo-uses" inputMode="numeric" className={input} value={uses} onChange={(e) => setUses(e.target.value.replace(/\D/g, ''))} />
        </Field>
      </div>
      {kind === 'discount' && (
        <Field label={g.product}>
          <select data-testid="promo-product" className={input} value={product} onChange={(e) => setProduct(e.target.value)}>
            {products.map((p) => (
              <option key={p.id} value={p.id}>
                {p.title}
              </option>
            ))}
          </select>
        </Field>
      )}
      <Field label={g.expires}>
        <input data-testid="promo-expires" type="date" className={input} value={expires} onChange={(e) => setExpires(e.target.value)} />
      </Field>
    </Action>
  )
}
