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
