import { fireEvent, screen, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { npdGauge } from '../admin-api'
import { Onboarding } from '../components/Onboarding'
import { jsonReply, renderWithApp } from '../test/render'
import { Admin } from './Admin'
import { Plans } from './Plans'
import { Profile } from './Profile'

const me = {
  user: { id: 7, first_name: 'Аня', language_code: 'ru', is_admin: false },
  balance: { free: 10, subscription: 0, purchased: 0, total: 10 },
  plan: null,
  prices: { tryon: 2, chat_message: 1, edit_generation: 1 },
  demo: false,
  referral_link: 'https://t.me/primerka_bot?startapp=ref_abc123',
  referral: { code: 'abc123', invited: 3, rewarded: 1, credits_invitee: 20, credits_inviter: 25 },
  reminders_off: false,
  onboarded: false,
  free_monthly: 10,
}
const products = [
  { id: 'pack_100', kind: 'pack', title: '100 кредитов', credits: 100, price_kopecks: 19900, price_rub: '199.00', price_stars: 130, available: true },
]
const figures = { new_users: 2, active_users: 5, generations: 9, failures: 1, assistant_calls: 4, assistant_cost_usd: 0.125 }
const stats = {
  users: 40,
  sessions_live: 3,
  today: figures,
  month: { ...figures, new_users: 30 },
  providers: { kie: { finished_1h: 9, errors_1h: 2 }, openrouter: { calls_1h: 4, errors_1h: 0 }, queue: { queued: 1, running: 2, max: 40 } },
}
const line = { month: '2026-12', provider: 'yookassa', product: 'pack_100', payments: 2, gross_kopecks: 39800, commission_kopecks: 1114, tax_kopecks: 1592, net_kopecks: 37094 }

type Call = { url: string; method: string; body: unknown }
function routes(table: Record<string, unknown>) {
  const calls: Call[] = []
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = String(input)
    calls.push({ url, method: init?.method ?? 'GET', body: init?.body ? JSON.parse(String(init.body)) : null })
    for (const [prefix, reply] of Object.entries(table)) {
      if (url.startsWith(prefix)) return typeof reply === 'function' ? reply(url, init) : jsonReply(200, reply)
    }
    return jsonReply(404, { error: { code: 'not_found', message: 'нет', request_id: 'r' } })
  })
  return calls
}

afterEach(() => vi.restoreAllMocks())

describe('onboarding', () => {
  it('walks three cards with the real prices and is remembered when finished', async () => {
    const calls = routes({ '/api/me': null })
    const onDone = vi.fn()
    renderWithApp(<Onboarding onDone={onDone} />, { state: { me, balance: me.balance } })
    expect(screen.getByTestId('onboarding-step')).toHaveTextContent('1 из 3')
    fireEvent.click(screen.getByTestId('onboarding-next'))
    expect(screen.getByRole('dialog')).toHaveTextContent('Примерка — 2 кредита')
    fireEvent.click(screen.getByTestId('onboarding-next'))
    expect(screen.getByRole('dialog')).toHaveTextContent('10 бесплатных кредитов')
    expect(screen.getByTestId('onboarding-next')).toHaveTextContent('Начать')
    fireEvent.click(screen.getByTestId('onboarding-next'))
    expect(onDone).toHaveBeenCalled()
    await waitFor(() => expect(calls).toContainEqual({ url: '/api/me', method: 'PATCH', body: { onboarded: true } }))
  })

  it('can be skipped from the first card', async () => {
    const calls = routes({ '/api/me': null })
    const onDone = vi.fn()
    renderWithApp(<Onboarding onDone={onDone} />, { state: { me, balance: me.balance } })
    fireEvent.click(screen.getByTestId('onboarding-skip'))
    expect(onDone).toHaveBeenCalled()
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true))
  })
})

describe('profile', () => {
  it('shows the invitation link and counts, and switches reminders off', async () => {
    const calls = routes({ '/api/me/ledger': { items: [], next_cursor: null }, '/api/me': null })
    const { value } = renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me, balance: me.balance } })
    expect(screen.getByTestId('invite-link')).toHaveValue('https://t.me/primerka_bot?startapp=ref_abc123')
    expect(screen.getByTestId('invite')).toHaveTextContent('вы получите 25 кредитов, а он — 20')
    expect(screen.getByTestId('invite-counts')).toHaveTextContent('Приглашено: 3 · с бонусом: 1')
    expect(screen.queryByTestId('open-admin')).not.toBeInTheDocument()
    const toggle = screen.getByTestId('reminders-switch')
    expect(toggle).toHaveAttribute('aria-checked', 'true')
    fireEvent.click(toggle)
    await waitFor(() => expect(calls).toContainEqual({ url: '/api/me', method: 'PATCH', body: { reminders_off: true } }))
    await waitFor(() => expect(value.refreshMe).toHaveBeenCalled())
  })

  it('offers the operator panel to operators only', () => {
    routes({ '/api/me/ledger': { items: [], next_cursor: null } })
    const admin = { ...me, user: { ...me.user, is_admin: true } }
    const { value } = renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me: admin, balance: me.balance } })
    fireEvent.click(screen.getByTestId('open-admin'))
    expect(value.go).toHaveBeenCalledWith('admin')
  })
})

describe('promo codes in Plans', () => {
  it('adds credits, shows a discount on its product, and says why a code is refused', async () => {
    let plans = products as unknown[]
    routes({
      '/api/plans': () => jsonReply(200, { products: plans }),
      '/api/promo/redeem': (_: string, init: RequestInit) => {
        const code = JSON.parse(String(init.body)).code
        if (code === 'GIFT') return jsonReply(200, { credits: 50 })
        if (code === 'SALE') {
          plans = [{ ...products[0], discount_percent: 20, discounted_price_rub: '159.20' }]
          return jsonReply(200, { discount_percent: 20, product: 'pack_100' })
        }
        return jsonReply(410, { error: { code: 'promo_expired', message: 'Срок действия промокода истёк.', request_id: 'r' } })
      },
    })
    const { value } = renderWithApp(<Plans />, { state: { me, balance: me.balance } })
    await screen.findByTestId('buy-pack_100')
    const field = screen.getByTestId('promo-input')
    fireEvent.change(field, { target: { value: 'GIFT' } })
    fireEvent.click(screen.getByTestId('promo-apply'))
    expect(await screen.findByTestId('promo-done')).toHaveTextContent('Начислено 50 кредитов')
    expect(value.refreshMe).toHaveBeenCalled()
    fireEvent.change(field, { target: { value: 'SALE' } })
    fireEvent.click(screen.getByTestId('promo-apply'))
    expect(await screen.findByTestId('discount-pack_100')).toHaveTextContent('199 ₽ −20%')
    expect(screen.getByTestId('buy-pack_100')).toHaveTextContent('159,20 ₽')
    expect(screen.getByTestId('promo-done')).toHaveTextContent('Скидка 20% на «100 кредитов»')
    fireEvent.change(field, { target: { value: 'OLD' } })
    fireEvent.click(screen.getByTestId('promo-apply'))
    expect(await screen.findByRole('alert')).toHaveTextContent('Срок действия промокода истёк.')
  })
})

describe('operator screen', () => {
  it('shows the figures, provider health, revenue and the НПД gauge from the report', async () => {
    routes({
      '/api/admin/stats': stats,
      '/api/admin/revenue': { lines: [line], npd_cap: { cap_rub: '2400000.00', income_rub: '398.00', percent: 0.02, stopped: false } },
      '/api/admin/promo': { items: [{ code: 'GIFT', credits: 50, discount_percent: null, product: null, max_uses: 10, uses: 3, expires_at: null }] },
      '/api/plans': { products },
    })
    const admin = { ...me, user: { ...me.user, is_admin: true } }
    renderWithApp(<Admin />, { state: { me: admin, balance: me.balance } })
    expect(await screen.findByTestId('figure-new_users')).toHaveTextContent('Новые пользователи230')
    expect(screen.getByTestId('figure-assistant_cost_usd')).toHaveTextContent('0.13')
    expect(screen.getByTestId('health-kie')).toHaveTextContent('kie.ai: ошибок 2 из 9')
    expect(screen.getByTestId('health-queue')).toHaveTextContent('Очередь: 1 из 40, выполняется 2')
    expect(screen.getByTestId('revenue-total')).toHaveTextContent('370,94')
    expect(screen.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '0')
    expect(await screen.findByTestId('promo-list')).toHaveTextContent('3 из 10')
  })

  it('shows nothing to a user who is not an operator', () => {
    const calls = routes({})
    renderWithApp(<Admin />, { state: { me, balance: me.balance } })
    expect(screen.queryByTestId('admin')).not.toBeInTheDocument()
    expect(screen.getByRole('alert')).toBeInTheDocument()
    void calls
  })

  it('computes the gauge from the older report fields when npd_cap is missing', () => {
    expect(npdGauge({ lines: [], year_income_kopecks: 120_000_000, npd_cap_kopecks: 240_000_000 })).toEqual({
      cap_rub: '2400000.00',
      income_rub: '1200000.00',
      percent: 50,
    })
    expect(npdGauge({ lines: [] })).toBeNull()
  })
})
