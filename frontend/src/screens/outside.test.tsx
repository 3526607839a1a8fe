import { render, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { jsonReply } from '../test/render'
import { Outside } from './Outside'

const ru = strings('ru')
afterEach(() => {
  vi.restoreAllMocks()
  history.replaceState(null, '', '/')
})

describe('the return page outside Telegram', () => {
  it('shows the outcome from the signed link and the way back, never an error', async () => {
    history.replaceState(null, '', '/plans?payment=p1&sig=abc')
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      jsonReply(200, { payment_id: 'p1', status: 'succeeded', product: 'pack_100', title: '100 кредитов', credits: 100, telegram_url: 'https://t.me/bot/app?startapp=paid_p1' }),
    )
    render(<Outside t={ru} />)
    expect(await screen.findByTestId('return-succeeded')).toHaveTextContent(ru.paymentSucceeded(100))
    expect(screen.getByTestId('back-to-telegram')).toHaveAttribute('href', 'https://t.me/bot/app?startapp=paid_p1')
    expect(String(fetchMock.mock.calls[0][0])).toBe('/api/payments/p1/return?sig=abc')
  })

  it('a link that does not check out asks to open the app in Telegram', async () => {
    history.replaceState(null, '', '/plans?payment=p1&sig=forged')
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => jsonReply(404, { error: { code: 'not_found', message: 'Не найдено' } }))
    render(<Outside t={ru} />)
    expect(await screen.findByTestId('open-in-telegram')).toHaveTextContent(ru.openInTelegram)
    expect(screen.queryByRole('alert')).not.toBeInTheDocument()
  })
})
