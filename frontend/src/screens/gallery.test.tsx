import { fireEvent, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { jsonReply, renderWithApp } from '../test/render'
import { Gallery } from './Gallery'

vi.mock('../telegram', async (original) => ({
  ...(await original<typeof import('../telegram')>()),
  confirmAction: () => Promise.resolve(true),
}))

const ru = strings('ru')
const item = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  id,
  kind: 'tryon',
  status,
  cost: 2,
  watermarked: true,
  refunded: false,
  result_url: status === 'succeeded' ? `/media/${id}.jpg?sig=s` : null,
  created_at: '2026-11-24T10:00:00Z',
  ...extra,
})

afterEach(() => vi.restoreAllMocks())

describe('Gallery', () => {
  it('shows the empty state', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => jsonReply(200, { items: [], next_cursor: null }))
    renderWithApp(<Gallery />)
    expect(await screen.findByText(ru.emptyGallery)).toBeInTheDocument()
  })

  it('marks a failed job as refunded, opens a result and reports a failed delete', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation((_input, init) => {
      if (init?.method === 'DELETE') return jsonReply(503, { error: { code: 'internal', message: 'Не удалось удалить.', request_id: 'r' } })
      return jsonReply(200, { items: [item('a', 'succeeded'), item('b', 'failed', { refunded: true })], next_cursor: null })
    })
    renderWithApp(<Gallery />)
    expect(await screen.findByText(ru.creditsReturned)).toBeInTheDocument()
    fireEvent.click(screen.getByRole('button', { name: new RegExp(ru.open) }))
    expect(screen.getByRole('img', { name: ru.result })).toHaveAttribute('src', '/media/a.jpg?sig=s')
    expect(screen.getByText(ru.download)).toHaveAttribute('href', '/media/a.jpg?sig=s&download=1')
    fireEvent.click(screen.getByText(ru.delete))
    expect(await screen.findByRole('alert')).toHaveTextContent('Не удалось удалить.')
  })
})
