import { fireEvent, screen, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { strings } from '../i18n'
import { initialState } from '../state'
import { jsonReply, renderWithApp } from '../test/render'
import { TryOn } from './TryOn'

const ru = strings('ru')
const me = {
  user: { id: 42, first_name: 'Аня', language_code: 'ru' },
  balance: { free: 10, subscription: 0, purchased: 0, total: 10 },
  prices: { tryon: 2, chat_message: 1, edit_generation: 1 },
  demo: true,
}
const upload = (id: string, kind: string) => ({ upload_id: id, url: `/media/uploads/${id}.jpg`, width: 600, height: 800, kind })
const categories = [
  { id: 'outfit', title: 'Образ целиком', icon: 'outfit' },
  { id: 'accessory', title: 'Аксессуар', icon: 'scarf' },
]

afterEach(() => {
  vi.restoreAllMocks()
  localStorage.clear()
})

describe('the try-on quiz', () => {
  it('walks You → What → Items → Check with earlier photos, goes back a step, and starts with the chosen category', async () => {
    const posted: unknown[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const url = String(input)
      if (url === '/api/tryon/categories') return jsonReply(200, categories)
      if (url === '/api/uploads?kind=person') return jsonReply(200, { items: [upload('p1', 'person')] })
      if (url === '/api/uploads?kind=garment') return jsonReply(200, { items: [upload('g1', 'garment')] })
      if (url === '/api/tryon' && init?.method === 'POST') {
        posted.push(JSON.parse(String(init.body)))
        return jsonReply(202, { generation_id: 'job-1', status: 'queued', cost: 2, watermarked: true })
      }
      return jsonReply(404, { error: { code: 'not_found', message: 'нет', request_id: 'r' } })
    })
    const { value } = renderWithApp(<TryOn />, { state: { me, balance: me.balance, tryon: initialState.tryon } })

    expect(screen.getByText(ru.quizStep(1, 4))).toBeInTheDocument()
    expect(screen.getByTestId('quiz-next')).toBeDisabled()
    fireEvent.click(await screen.findByTestId('my-photo'))
    fireEvent.click(screen.getByTestId('quiz-next'))

    // Step 2: the server's categories (with "outfit" and "accessory"), none chosen by default.
    fireEvent.click(await screen.findByText('Аксессуар'))
    expect(screen.getByTestId('category-outfit')).toHaveAttribute('aria-pressed', 'false')
    // Back one step keeps the photo.
    fireEvent.click(screen.getByTestId('quiz-back'))
    expect(screen.getByText(ru.quizStep(1, 4))).toBeInTheDocument()
    expect(screen.getByTestId('quiz-next')).toBeEnabled()
    fireEvent.click(screen.getByTestId('quiz-next'))
    expect(screen.getByTestId('category-accessory')).toHaveAttribute('aria-pressed', 'true')
    fireEvent.click(screen.getByTestId('quiz-next'))

    // Step 3: an item from "my wardrobe".
    expect(screen.getByTestId('quiz-next')).toBeDisabled()
    fireEvent.click(await screen.findByTestId('my-garment'))
    fireEvent.click(screen.getByTestId('quiz-next'))

    // Step 4: what it costs, the balance after, the watermark note leading to the plans.
    expect(screen.getByTestId('tryon-cost')).toHaveTextContent('2 кредита')
    expect(screen.getByText(ru.balanceAfter(8))).toBeInTheDocument()
    fireEvent.click(screen.getByTestId('remove-watermark'))
    expect(value.go).toHaveBeenCalledWith('plans')
    fireEvent.click(screen.getByTestId('start-tryon'))
    await waitFor(() => expect(posted).toEqual([{ person_upload_id: 'p1', garment_upload_ids: ['g1'], category: 'accessory' }]))
    expect(await screen.findByTestId('job-progress')).toBeInTheDocument()
    expect(screen.getByTestId('cancel-job')).toHaveTextContent(ru.cancel)
    // The draft is stored for the next opening of the app.
    expect(JSON.parse(localStorage.getItem('primerka.quiz.42') ?? '{}').jobId).toBe('job-1')
  })
})
