import { fireEvent, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { jsonReply, renderWithApp } from '../test/render'
import { Editor } from './Editor'

const ru = strings('ru')
const message = {
  id: 'm1',
  role: 'assistant' as const,
  kind: 'text',
  text: 'Вот варианты',
  image_url: null,
  variants: [{ id: 'v1', title: 'Закат на пляже', description: 'Тёплый свет, море за спиной', prompt: 'beach at sunset' }],
  generation_id: null,
  created_at: '2026-11-24T10:00:00Z',
}

function routes(currentImage: string | null) {
  return vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
    if (String(input).includes('/generate')) return jsonReply(202, { generation_id: 'g1', status: 'queued', position: 1, cost: 1, watermarked: true })
    return jsonReply(200, { messages: [message], current_image: currentImage ? { url: currentImage } : null })
  })
}

afterEach(() => vi.restoreAllMocks())

describe('Editor variants', () => {
  it('shows the title and description, the English prompt only when editing it, and sends the edit', async () => {
    const fetchMock = routes('/media/uploads/a.jpg?exp=1&sig=x')
    renderWithApp(<Editor />, { state: { chat: [message] } })
    expect(screen.getByText('Тёплый свет, море за спиной')).toBeInTheDocument()
    expect(screen.queryByText('beach at sunset')).not.toBeInTheDocument()
    fireEvent.click(screen.getByRole('button', { name: ru.editPrompt }))
    fireEvent.change(screen.getByRole('textbox', { name: `${ru.editPrompt}: Закат на пляже` }), {
      target: { value: 'beach at sunrise' },
    })
    await vi.waitFor(() => expect(screen.getByTestId('apply-variant')).toBeEnabled())
    fireEvent.click(screen.getByTestId('apply-variant'))
    await screen.findByTestId('job-progress')
    const call = fetchMock.mock.calls.find(([u]) => String(u).includes('/generate'))
    expect(String(call?.[0])).toBe('/api/chat/variants/v1/generate')
    expect(JSON.parse(String(call?.[1]?.body))).toEqual({ prompt: 'beach at sunrise' })
  })

  it('asks for a photo first: without one nothing can be sent or applied', async () => {
    const fetchMock = routes(null)
    renderWithApp(<Editor />, { state: { chat: [message] } })
    expect(await screen.findByTestId('need-photo')).toHaveTextContent(ru.needPhotoFirst)
    fireEvent.change(screen.getByTestId('chat-input'), { target: { value: 'Сделай фон морем' } })
    expect(screen.getByTestId('chat-send')).toBeDisabled()
    expect(screen.getByTestId('apply-variant')).toBeDisabled()
    expect(fetchMock.mock.calls.filter(([u]) => String(u).includes('/messages'))).toHaveLength(0)
  })
})

describe('edit results', () => {
  const original = { id: 'u1', role: 'user' as const, kind: 'image', text: 'фон', image_url: '/media/uploads/a.jpg?sig=1', variants: [], generation_id: null, created_at: '' }
  const first = { id: 'r1', role: 'assistant' as const, kind: 'image', text: '', image_url: '/media/results/r1.jpg?sig=2', variants: [], generation_id: 'g1', created_at: '' }
  const second = { ...first, id: 'r2', image_url: '/media/results/r2.jpg?sig=3', generation_id: 'g2' }

  it('offer download, send, a comparison with the version before, and going back to an older one', async () => {
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      if (String(input) === '/api/chat/current') {
        expect(JSON.parse(String(init?.body))).toEqual({ generation_id: 'g1' })
        return jsonReply(200, { messages: [original, first, second], current_image: { url: '/media/results/r1.jpg?sig=9' } })
      }
      return jsonReply(200, { messages: [original, first, second], current_image: { url: '/media/results/r2.jpg?sig=8' } })
    })
    renderWithApp(<Editor />)
    const results = await screen.findAllByTestId('edit-result')
    expect(results).toHaveLength(2)
    // The newest is the current version: it can be compared with the one before, not gone back to.
    expect(results[1]).toHaveTextContent(ru.currentVersion)
    expect(results[1].querySelector('[data-testid="restore-version"]')).toBeNull()
    expect(results[1].querySelector('[data-testid="download"]')?.getAttribute('href')).toBe('/media/results/r2.jpg?sig=3&download=1')
    fireEvent.click(results[1].querySelector('[data-testid="compare-toggle"]')!)
    expect(await screen.findByTestId('compare')).toBeInTheDocument()
    // Going back to the first result makes it the current picture.
    fireEvent.click(results[0].querySelector('[data-testid="restore-version"]')!)
    await vi.waitFor(() => expect(fetchMock.mock.calls.some(([u]) => String(u) === '/api/chat/current')).toBe(true))
    await vi.waitFor(() => expect(screen.getAllByTestId('edit-result')[0]).toHaveTextContent(ru.currentVersion))
  })

  it('shows the server’s answer when going back is refused', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation((input) =>
      String(input) === '/api/chat/current'
        ? jsonReply(404, { error: { code: 'not_found', message: 'Этой версии больше нет', request_id: 'r' } })
        : jsonReply(200, { messages: [original, first, second], current_image: { url: '/media/results/r2.jpg?sig=8' } }),
    )
    renderWithApp(<Editor />)
    const results = await screen.findAllByTestId('edit-result')
    fireEvent.click(results[0].querySelector('[data-testid="restore-version"]')!)
    expect(await screen.findByRole('alert')).toHaveTextContent('Этой версии больше нет')
  })
})
