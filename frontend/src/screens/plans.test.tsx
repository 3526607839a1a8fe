import { screen, within } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { jsonReply, renderWithApp } from '../test/render'
import { Plans } from './Plans'

const ru = strings('ru')

const products = [
  { id: 'pack_100', kind: 'pack', title: '100 кредитов', credits: 100, price_rub: '199.00', price_stars: 130, available: true, extra: 1 },
  { id: 'sub_basic', kind: 'subscription', title: 'Basic', credits: 50, price_rub: '299.00', price_stars: 200, period_days: 30, available: true },
]

function routes(payment: unknown) {
  return vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
    const url = String(input)
    if (url.startsWith('/api/plans')) return jsonReply(200, { products, rails: ['yookassa'] })
    if (url.startsWith('/api/payments/')) return jsonReply(200, payment)
    if (url.startsWith('/api/me/ledger'))
      return jsonReply(200, {
        items: [{ id: 3, kind: 'purchase', amount: 100, description: 'Куплено 100 кредитов', created_at: '2026-11-24T10:00:00Z' }],
        next_cursor: null,
      })
    return jsonReply(404, { error: { code: 'not_found', message: 'нет', request_id: 'r' } })
  })
}

afterEach(() => {
  vi.restoreAllMocks()
  history.replaceState(null, '', '/')
})

describe('Plans', () => {
  it('lists packs and plans with prices, and the credit history', async () => {
    routes(null)
    renderWithApp(<Plans />)
    expect(await screen.findByTestId('buy-pack_100')).toHaveTextContent(ru.buy('199.00'))
    expect(screen.getByTestId('buy-sub_basic')).toHaveTextContent(ru.buy('299.00'))
    const ledger = screen.getByTestId('ledger')
    expect(await within(ledger).findByText('Куплено 100 кредитов')).toBeInTheDocument()
    expect(within(ledger).getByText('+100')).toBeInTheDocument()
  })

  it('on return from the payment page shows the result and refreshes the balance', async () => {
    history.replaceState(null, '', '/plans?payment=p1')
    routes({ payment_id: 'p1', status: 'succeeded', product: 'pack_100', credits: 100, amount_rub: '199.00' })
    const { value } = renderWithApp(<Plans />)
    expect(await screen.findByTestId('payment-succeeded')).toHaveTextContent(ru.paymentSucceeded(100))
    expect(value.refreshMe).toHaveBeenCalled()
  })

  it('says when the payment was cancelled', async () => {
    history.replaceState(null, '', '/plans?payment=p2')
    routes({ payment_id: 'p2', status: 'canceled', product: 'pack_100', credits: 100, amount_rub: '199.00' })
    renderWithApp(<Plans />)
    expect(await screen.findByTestId('payment-canceled')).toHaveTextContent(ru.paymentCanceled)
  })
})
