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
  variants: [{ id: 'v1', title: 'Закат на пляже', prompt: 'beach at sunset' }],
  generation_id: null,
  created_at: '2026-11-24T10:00:00Z',
}

afterEach(() => vi.restoreAllMocks())

describe('Editor variants', () => {
  it('sends the edited prompt with the chosen variant', async () => {
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
      if (String(input).includes('/generate')) return jsonReply(202, { generation_id: 'g1', status: 'queued', position: 1, cost: 1, watermarked: true })
      return jsonReply(200, { messages: [message], current_image: null })
    })
    renderWithApp(<Editor />, { state: { chat: [message] } })
    fireEvent.click(screen.getByRole('button', { name: ru.editPrompt }))
    fireEvent.change(screen.getByRole('textbox', { name: `${ru.editPrompt}: Закат на пляже` }), {
      target: { value: 'beach at sunrise' },
    })
    fireEvent.click(screen.getByTestId('apply-variant'))
    await screen.findByTestId('job-progress')
    const call = fetchMock.mock.calls.find(([u]) => String(u).includes('/generate'))
    expect(String(call?.[0])).toBe('/api/chat/variants/v1/generate')
    expect(JSON.parse(String(call?.[1]?.body))).toEqual({ prompt: 'beach at sunrise' })
  })
})
