import { fireEvent, screen, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { formatRub } from '../payments'
import { meWithPlan as me } from '../test/fixtures'
import { jsonReply, renderWithApp } from '../test/render'
import { Plans } from './Plans'

const ru = strings('ru')

const products = [
  { id: 'pack_100', kind: 'pack', title: '100 кредитов', credits: 100, price_kopecks: 19900, price_rub: '199.00', price_stars: 130, available: true, extra: 1 },
  { id: 'sub_basic', kind: 'subscription', title: 'Базовый', credits: 50, price_kopecks: 29900, price_rub: '299.00', price_stars: 200, period_days: 30, available: true },
  { id: 'sub_pro', kind: 'subscription', title: 'Про', credits: 500, price_rub: '899.50', price_stars: 600, period_days: 30, available: true },
]

function routes(payment: unknown) {
  return vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
    const url = String(input)
    if (url.startsWith('/api/plans')) return jsonReply(200, { products })
    if (url.startsWith('/api/payments/')) return jsonReply(200, payment)
    return jsonReply(404, { error: { code: 'not_found', message: 'нет', request_id: 'r' } })
  })
}

afterEach(() => {
  vi.restoreAllMocks()
  history.replaceState(null, '', '/')
})

describe('Plans', () => {
  it('shows whole roubles, Russian names, try-ons per pack and the current plan', async () => {
    routes(null)
    renderWithApp(<Plans />, { state: { me, balance: me.balance } })
    expect(await screen.findByTestId('buy-pack_100')).toHaveTextContent('Купить за 199 ₽')
    expect(screen.getByTestId('product-pack_100')).toHaveTextContent('≈ 50 примерок')
    expect(screen.getByTestId('product-sub_basic')).toHaveTextContent('Базовый')
    expect(screen.getByTestId('product-sub_basic')).toHaveTextContent(ru.yourPlan)
    expect(screen.getByTestId('product-sub_pro')).toHaveTextContent('899,50 ₽')
    expect(screen.queryByText(/\.00/)).not.toBeInTheDocument()
    // Outside Telegram there is no Stars button.
    expect(screen.queryByTestId('stars-pack_100')).not.toBeInTheDocument()
  })

  it('follows a returned payment, refreshes the balance and takes ?payment= out of the URL', async () => {
    history.replaceState(null, '', '/plans?payment=p1&sig=s#keep')
    routes({ payment_id: 'p1', status: 'succeeded', product: 'pack_100', credits: 100, amount_rub: '199.00' })
    const { value } = renderWithApp(<Plans paymentId="p1" />)
    expect(await screen.findByTestId('payment-succeeded')).toHaveTextContent(ru.paymentSucceeded(100))
    expect(value.refreshMe).toHaveBeenCalled()
    expect(`${location.pathname}${location.search}${location.hash}`).toBe('/plans#keep')
  })

  it('follows a Stars payment, whose view has stars and no roubles', async () => {
    routes({ payment_id: 'p3', status: 'succeeded', provider: 'stars', product: 'pack_100', credits: 100, amount_rub: null, amount_stars: 130 })
    renderWithApp(<Plans paymentId="p3" />)
    expect(await screen.findByTestId('payment-succeeded')).toHaveTextContent(ru.paymentSucceeded(100))
  })

  it('says when the payment was cancelled', async () => {
    routes({ payment_id: 'p2', status: 'canceled', product: 'pack_100', credits: 100, amount_rub: '199.00' })
    renderWithApp(<Plans paymentId="p2" />)
    expect(await screen.findByTestId('payment-canceled')).toHaveTextContent(ru.paymentCanceled)
  })
})

describe('Plans: the renewal consent', () => {
  it('keeps a first subscription unbuyable until its unticked consent is ticked, then records it before paying', async () => {
    const calls: string[] = []
    let missing = ['autorenew']
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const url = String(input)
      calls.push(`${init?.method ?? 'GET'} ${url} ${init?.body ?? ''}`)
      if (url.startsWith('/api/plans')) return jsonReply(200, { products })
      if (url === '/api/me/consents' && init?.method === 'POST') {
        missing = []
        return jsonReply(201, { kind: 'autorenew', version: 'v1', accepted_at: '2026-12-03T10:00:00Z' })
      }
      if (url === '/api/me/consents') return jsonReply(200, { consents: [], missing, versions: { autorenew: 'v1', privacy: 'v1', offer: 'v1' } })
      if (url === '/api/payments') return jsonReply(201, { payment_id: 'p9', status: 'pending', product: 'sub_pro', credits: 500, amount_rub: '899.50', confirmation_url: 'https://pay.example/p9' })
      return jsonReply(404, { error: { code: 'not_found', message: 'нет', request_id: 'r' } })
    })
    const open = vi.spyOn(window, 'open').mockImplementation(() => null)
    renderWithApp(<Plans />, { state: { me: { ...me, plan: null }, balance: me.balance } })
    const tick = await screen.findByTestId('autorenew-tick-sub_pro')
    expect(tick).not.toBeChecked()
    expect(screen.getByTestId('autorenew-sub_pro')).toHaveTextContent(ru.autorenewAgree('899,50 ₽', 30))
    expect(screen.getByTestId('buy-sub_pro')).toBeDisabled()
    expect(screen.getByTestId('buy-pack_100')).toBeEnabled()
    fireEvent.click(tick)
    expect(screen.getByTestId('buy-sub_pro')).toBeEnabled()
    fireEvent.click(screen.getByTestId('buy-sub_pro'))
    await waitFor(() => expect(calls.some((c) => c.startsWith('POST /api/payments'))).toBe(true))
    const consent = calls.findIndex((c) => c.startsWith('POST /api/me/consents'))
    expect(calls[consent]).toContain('"kind":"autorenew","version":"v1"')
    expect(consent).toBeLessThan(calls.findIndex((c) => c.startsWith('POST /api/payments')))
    await waitFor(() => expect(screen.queryByTestId('autorenew-sub_basic')).not.toBeInTheDocument())
    open.mockRestore()
  })
})

describe('formatRub', () => {
  it('drops zero kopecks', () => {
    expect(formatRub(19900, 'ru')).toBe('199 ₽')
    expect(formatRub(19950, 'en')).toBe('199.50 ₽')
  })
})
