import { afterEach, describe, expect, it, vi } from 'vitest'
import { restoreQuiz, saveQuiz, storedQuiz } from './quiz'
import { initialState } from './state'
import { jsonReply } from './test/render'

const upload = (id: string, url = `/media/uploads/${id}.jpg?sig=new`) => ({ upload_id: id, url, width: 600, height: 800 })

afterEach(() => {
  vi.restoreAllMocks()
  localStorage.clear()
})

describe('the quiz draft', () => {
  it('survives reopening, with fresh links, and drops photos the server no longer has', async () => {
    saveQuiz(7, {
      ...initialState.tryon,
      step: 'check',
      person: upload('p', '/media/uploads/p.jpg?sig=old'),
      garments: [upload('g1', '/old'), upload('g2', '/old')],
      category: 'top',
    })
    expect(storedQuiz(8)).toBeNull()
    const fetch = vi.spyOn(globalThis, 'fetch').mockImplementation((input) =>
      String(input).includes('kind=person') ? jsonReply(200, { items: [upload('p')] }) : jsonReply(200, { items: [upload('g2')] }),
    )
    const restored = await restoreQuiz(7)
    expect(fetch).toHaveBeenCalledTimes(2)
    expect(restored?.step).toBe('check')
    expect(restored?.person?.url).toBe('/media/uploads/p.jpg?sig=new')
    expect(restored?.garments.map((g) => g.upload_id)).toEqual(['g2'])
    expect(restored?.category).toBe('top')
  })

  it('goes back to the step whose photos are gone', async () => {
    saveQuiz(7, { ...initialState.tryon, step: 'check', person: upload('p'), garments: [upload('g')], category: 'top' })
    vi.spyOn(globalThis, 'fetch').mockImplementation((input) =>
      String(input).includes('kind=person') ? jsonReply(200, { items: [upload('p')] }) : jsonReply(200, { items: [] }),
    )
    expect((await restoreQuiz(7))?.step).toBe('items')
    localStorage.setItem('primerka.quiz.7', '{"step":"nowhere","garments":"x"}')
    expect(storedQuiz(7)).toEqual({ step: 'you', person: null, garments: [], category: '', jobId: null })
  })
})
