import { fireEvent, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api'
import { strings } from '../i18n'
import { renderWithApp } from '../test/render'
import { JobProgress } from './JobProgress'
import { BalancePill, ErrorBox } from './ui'

const ru = strings('ru')
const en = strings('en')

afterEach(() => vi.restoreAllMocks())

describe('ErrorBox', () => {
  it('offers the plans screen when credits are short', () => {
    const { value } = renderWithApp(
      <ErrorBox error={new ApiError(402, 'insufficient_credits', 'Нужно 2 кредита, у вас 0.')} />,
    )
    expect(screen.getByRole('alert')).toHaveTextContent(ru.notEnough)
    expect(screen.getByRole('alert')).toHaveTextContent('Нужно 2 кредита, у вас 0.')
    fireEvent.click(screen.getByTestId('to-plans'))
    expect(value.go).toHaveBeenCalledWith('plans')
  })

  it('shows the server message, the offline text, or a generic one, in the chosen language', () => {
    const { unmount } = renderWithApp(<ErrorBox error={new ApiError(503, 'queue_full', 'Service busy; nothing was charged.')} />, { t: en })
    expect(screen.getByRole('alert')).toHaveTextContent('Service busy; nothing was charged.')
    expect(screen.queryByTestId('to-plans')).toBeNull()
    unmount()
    const second = renderWithApp(<ErrorBox error={new ApiError(0, 'offline', '')} />, { t: en })
    expect(screen.getByRole('alert')).toHaveTextContent(en.offline)
    second.unmount()
    const onRetry = vi.fn()
    renderWithApp(<ErrorBox error={new Error('boom')} onRetry={onRetry} />)
    expect(screen.getByRole('alert')).toHaveTextContent(ru.errorGeneric)
    fireEvent.click(screen.getByText(ru.retry))
    expect(onRetry).toHaveBeenCalled()
  })
})

describe('JobProgress', () => {
  it('shows the queue position while queued', () => {
    renderWithApp(<JobProgress id="g" />, { state: { jobs: { g: { status: 'queued', position: 4 } } } })
    expect(screen.getByTestId('job-progress')).toHaveTextContent(ru.queued(4))
  })

  it('says the credits came back when a job failed', () => {
    const onDone = vi.fn()
    renderWithApp(<JobProgress id="g" onDone={onDone} />, {
      state: { jobs: { g: { status: 'failed', message: 'Модель не справилась.', creditsReturned: true } } },
    })
    const box = screen.getByTestId('job-failed')
    expect(box).toHaveTextContent('Модель не справилась.')
    expect(box).toHaveTextContent(ru.creditsReturned)
    fireEvent.click(screen.getByText(ru.retry))
    expect(onDone).toHaveBeenCalled()
  })

  it('shows the result with the watermark note and sends it to the chat', async () => {
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      Promise.resolve(new Response(JSON.stringify({ sent: true }), { status: 202 })),
    )
    renderWithApp(<JobProgress id="g" />, {
      state: { jobs: { g: { status: 'succeeded', resultUrl: '/media/r.png', watermarked: true } } },
    })
    expect(screen.getByRole('img')).toHaveAttribute('src', '/media/r.png')
    expect(screen.getByTestId('job-result')).toHaveTextContent(ru.watermarkNote)
    fireEvent.click(screen.getByText(ru.sendToChat))
    expect(await screen.findByText(ru.sent)).toBeInTheDocument()
    expect(fetchMock.mock.calls[0][0]).toBe('/api/generations/g/send')
  })
})

describe('BalancePill', () => {
  it('shows the total and opens the plans', () => {
    const { value } = renderWithApp(<BalancePill />, {
      state: { balance: { free: 1, subscription: 0, purchased: 2, total: 3 } },
    })
    const pill = screen.getByRole('button', { name: `${ru.balance}: ${ru.credits(3)}` })
    expect(pill).toHaveTextContent(ru.credits(3))
    fireEvent.click(pill)
    expect(value.go).toHaveBeenCalledWith('plans')
  })
})

describe('download link', () => {
  it('asks the signed URL for an attachment', () => {
    renderWithApp(<JobProgress id="g" />, {
      state: { jobs: { g: { status: 'succeeded', resultUrl: '/media/r.png?exp=1&sig=s', watermarked: false } } },
    })
    expect(screen.getByTestId('download')).toHaveAttribute('href', '/media/r.png?exp=1&sig=s&download=1')
    expect(screen.queryByText(ru.watermarkNote)).toBeNull()
  })
})

describe('send to chat failure', () => {
  it('shows the server message instead of failing silently', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      Promise.resolve(
        new Response(JSON.stringify({ error: { code: 'provider_unavailable', message: 'Бот недоступен, попробуйте позже.', request_id: 'r' } }), {
          status: 503,
        }),
      ),
    )
    renderWithApp(<JobProgress id="g" />, {
      state: { jobs: { g: { status: 'succeeded', resultUrl: '/media/r.png', watermarked: false } } },
    })
    fireEvent.click(screen.getByText(ru.sendToChat))
    expect(await screen.findByRole('alert')).toHaveTextContent('Бот недоступен, попробуйте позже.')
    expect(screen.getByText(ru.sendToChat)).toBeEnabled()
  })
})
