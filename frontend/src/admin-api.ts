// The operator's endpoints (`/api/admin/*`, configured operator ids only; docs/API.md), used by
// the operator screen. Responses validated with zod like the rest of the API.
import { z } from 'zod'
import { request } from './api'

export const Figures = z.object({
  new_users: z.number(),
  active_users: z.number(),
  generations: z.number(),
  failures: z.number(),
  assistant_calls: z.number(),
  assistant_cost_usd: z.number(),
})
export type Figures = z.infer<typeof Figures>

export const Stats = z.object({
  /** Today in the server's timezone (Moscow): the report's days are counted there. */
  date: z.string().optional(),
  users: z.number(),
  sessions_live: z.number(),
  today: Figures,
  month: Figures,
  providers: z.object({
    kie: z.object({ finished_1h: z.number(), errors_1h: z.number() }),
    openrouter: z.object({ calls_1h: z.number(), errors_1h: z.number() }),
    queue: z.object({ queued: z.number(), running: z.number(), max: z.number() }),
  }),
})
export type Stats = z.infer<typeof Stats>

export const RevenueLine = z.object({
  month: z.string(),
  provider: z.string(),
  product: z.string(),
  payments: z.number(),
  gross_kopecks: z.number(),
  commission_kopecks: z.number(),
  tax_kopecks: z.number(),
  net_kopecks: z.number(),
  refunded_payments: z.number().optional(),
  refunded_kopecks: z.number().optional(),
})
export type RevenueLine = z.infer<typeof RevenueLine>

/** The НПД cap as the revenue report gives it (`npd_cap`), or as computed from the older fields. */
export const NpdCap = z.object({
  cap_rub: z.string(),
  income_rub: z.string(),
  percent: z.number(),
  stopped: z.boolean().optional(),
})
export type NpdCap = z.infer<typeof NpdCap>

export const Revenue = z.object({
  lines: z.array(RevenueLine),
  year_income_kopecks: z.number().optional(),
  npd_cap_kopecks: z.number().optional(),
  npd_cap: NpdCap.nullable().optional(),
})
export type Revenue = z.infer<typeof Revenue>

export const Promo = z.object({
  code: z.string(),
  credits: z.number().nullable(),
  discount_percent: z.number().nullable(),
  product: z.string().nullable(),
  max_uses: z.number(),
  uses: z.number(),
  expires_at: z.string().nullable(),
})
export type Promo = z.infer<typeof Promo>

export type NewPromo = {
  code: string
  credits?: number
  discount_percent?: number
  product?: string
  max_uses: number
  expires_at?: string
}

const post = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) })

export const adminApi = {
  stats: () => request('/api/admin/stats', Stats),
  revenue: (from: string, to: string) => request(`/api/admin/revenue?from=${from}&to=${to}`, Revenue),
  ledgerCheck: () => request('/api/admin/ledger/check', z.object({ ok: z.boolean(), differences: z.array(z.unknown()) })),
  grant: (telegramId: number, credits: number, reason: string) =>
    request(
      `/api/admin/users/${telegramId}/grant`,
      z.object({ granted: z.boolean(), credits: z.number() }),
      post({ credits, reason }),
    ),
  refund: (paymentId: string, reason: string) =>
    request(`/api/admin/payments/${encodeURIComponent(paymentId)}/refund`, z.object({ credits_removed: z.number() }), post({ reason })),
  promos: () => request('/api/admin/promo', z.object({ items: z.array(Promo) })),
  createPromo: (p: NewPromo) => request('/api/admin/promo', Promo, post(p)),
}

/** The НПД gauge: the report's own `npd_cap` when it has one, else from the year's income. */
export function npdGauge(r: Revenue): NpdCap | null {
  if (r.npd_cap) return r.npd_cap
  if (r.year_income_kopecks === undefined || !r.npd_cap_kopecks) return null
  const rub = (k: number) => (k / 100).toFixed(2)
  return { cap_rub: rub(r.npd_cap_kopecks), income_rub: rub(r.year_income_kopecks), percent: (100 * r.year_income_kopecks) / r.npd_cap_kopecks }
}
