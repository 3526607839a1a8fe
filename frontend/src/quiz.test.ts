// The quiz draft in a plain browser: localStorage is the only store (no CloudStorage outside
// Telegram). Inside the emulated Telegram client: quiz.telegram.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { clearQuiz, mayHaveQuiz, readQuiz, restoreQuiz, saveQuiz, storedQuiz } from './quiz'
import { initialState } from './state'
import { cloudStorage } from './telegram'
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
    expect(storedQuiz(7)).toEqual({ step: 'you', person: null, garments: [], category: '', jobId: null, updatedAt: 0 })
  })

  it('stores ids and the time, never the signed links', () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000)
    saveQuiz(9, { step: 'items', person: upload('p', '/media/uploads/p.jpg?sig=secret'), garments: [upload('g', '/media/uploads/g.jpg?sig=secret')], category: 'top', jobId: null })
    const raw = localStorage.getItem('primerka.quiz.9') ?? ''
    expect(raw).not.toContain('sig=')
    expect(JSON.parse(raw)).toEqual({ step: 'items', person: 'p', garments: ['g'], category: 'top', jobId: null, updatedAt: 1_700_000_000_000 })
  })

  it('reads a draft stored before `updatedAt` existed (whole uploads with links)', async () => {
    const old = { step: 'check', person: upload('p', '/old'), garments: [upload('g1', '/old'), upload('g2', '/old')], category: 'top', jobId: 'job-1' }
    localStorage.setItem('primerka.quiz.10', JSON.stringify(old))
    expect(storedQuiz(10)).toEqual({ step: 'check', person: 'p', garments: ['g1', 'g2'], category: 'top', jobId: 'job-1', updatedAt: 0 })
    vi.spyOn(globalThis, 'fetch').mockImplementation((input) =>
      String(input).includes('kind=person') ? jsonReply(200, { items: [upload('p')] }) : jsonReply(200, { items: [upload('g1'), upload('g2')] }),
    )
    const restored = await restoreQuiz(10)
    expect(restored).toMatchObject({ step: 'check', category: 'top', jobId: 'job-1' })
    expect(restored?.person?.url).toBe('/media/uploads/p.jpg?sig=new')
    expect(restored?.garments.map((g) => g.url)).toEqual(['/media/uploads/g1.jpg?sig=new', '/media/uploads/g2.jpg?sig=new'])
  })

  it('writes only what changed, never the untouched start, and forgets the draft when cleared', async () => {
    const setItem = vi.spyOn(Storage.prototype, 'setItem')
    saveQuiz(11, initialState.tryon)
    expect(setItem).not.toHaveBeenCalled()
    expect(mayHaveQuiz(11)).toBe(false)
    const draft = { ...initialState.tryon, person: upload('p') }
    saveQuiz(11, draft)
    // The same draft again (a re-render, the links renewed) is not written again.
    saveQuiz(11, { ...draft, person: upload('p', '/media/uploads/p.jpg?sig=renewed') })
    expect(setItem).toHaveBeenCalledTimes(1)
    saveQuiz(11, { ...draft, step: 'what' })
    expect(setItem).toHaveBeenCalledTimes(2)
    expect(mayHaveQuiz(11)).toBe(true)
    await clearQuiz(11)
    expect(storedQuiz(11)).toBeNull()
    await expect(readQuiz(11)).resolves.toBeNull()
  })

  it('outside Telegram asks no CloudStorage', async () => {
    expect(cloudStorage.available()).toBe(false)
    saveQuiz(12, { ...initialState.tryon, category: 'top' })
    const restored = await restoreQuiz(12)
    expect(restored).toEqual({ step: 'you', person: null, garments: [], category: 'top', jobId: null })
  })
})
