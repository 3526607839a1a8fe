// The quiz draft inside the emulated Telegram client (src/test/telegram-client.ts): CloudStorage
// through the real telegram-web-app.js, localStorage as the fast local copy.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

const { events, cloud } = await vi.hoisted(async () => (await import('./test/telegram-client')).installTelegramClient({ userId: 7 }))

const { CLOUD_KEY, CLOUD_READ_TIMEOUT_MS, CLOUD_WRITE_DELAY_MS, clearQuiz, flushQuiz, readQuiz, restoreQuiz, saveQuiz, storedQuiz } = await import('./quiz')
const { initialState } = await import('./state')
const { cloudStorage } = await import('./telegram')
const { storageCalls } = await import('./test/telegram-client')
const { jsonReply, renderWithApp } = await import('./test/render')
const { TryOn } = await import('./screens/TryOn')
const { screen } = await import('@testing-library/react')

const upload = (id: string) => ({ upload_id: id, url: `/media/uploads/${id}.jpg?sig=fresh`, width: 600, height: 800 })
const draft = (patch: Partial<typeof initialState.tryon> = {}) => ({ ...initialState.tryon, ...patch })
const stored = (patch: Record<string, unknown>) => JSON.stringify({ step: 'you', person: null, garments: [], category: '', jobId: null, ...patch })
const saves = () => storageCalls(events).filter(([m]) => m === 'saveStorageValue')
const cloudDraft = () => JSON.parse(cloud.values.get(CLOUD_KEY) ?? 'null') as Record<string, unknown> | null
const serverHas = (people: string[], wardrobe: string[]) =>
  vi
    .spyOn(globalThis, 'fetch')
    .mockImplementation((input) => jsonReply(200, { items: (String(input).includes('kind=person') ? people : wardrobe).map(upload) }))

beforeEach(() => {
  events.length = 0
})

afterEach(async () => {
  // Answers and timeouts still on a fake clock are delivered before the real one is back.
  if (vi.isFakeTimers()) await vi.runAllTimersAsync()
  vi.useRealTimers()
  vi.restoreAllMocks()
  Object.assign(cloud, { mode: 'ok', delayMs: 0 })
  await flushQuiz()
  cloud.values.clear()
  localStorage.clear()
})

describe('the quiz draft inside Telegram', () => {
  it('is kept in CloudStorage as well as locally, ids only', async () => {
    expect(cloudStorage.available()).toBe(true)
    saveQuiz(7, draft({ step: 'items', person: upload('p'), category: 'top' }))
    expect(storedQuiz(7)).toMatchObject({ step: 'items', person: 'p', category: 'top' })
    await flushQuiz()
    expect(saves()).toHaveLength(1)
    expect(cloudDraft()).toMatchObject({ step: 'items', person: 'p', garments: [], category: 'top', jobId: null })
    expect(cloud.values.get(CLOUD_KEY)).not.toContain('sig=')
    expect(typeof cloudDraft()?.updatedAt).toBe('number')
  })

  it('makes one CloudStorage write of a burst of changes, the last state, and sends a pending one when the app is hidden', async () => {
    vi.useFakeTimers()
    saveQuiz(7, draft({ person: upload('p') }))
    await vi.advanceTimersByTimeAsync(CLOUD_WRITE_DELAY_MS / 2)
    saveQuiz(7, draft({ person: upload('p'), step: 'what' }))
    saveQuiz(7, draft({ person: upload('p'), step: 'what', category: 'top' }))
    await vi.advanceTimersByTimeAsync(CLOUD_WRITE_DELAY_MS - 1)
    expect(saves()).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(saves()).toHaveLength(1)
    expect(cloudDraft()).toMatchObject({ step: 'what', category: 'top' })
    // The local copy follows every change at once.
    expect(storedQuiz(7)).toMatchObject({ step: 'what', category: 'top' })

    // Closing the Mini App right after a change: the write goes out without waiting.
    saveQuiz(7, draft({ person: upload('p'), step: 'items', category: 'top' }))
    window.dispatchEvent(new Event('pagehide'))
    // The previous write's answer arrives; the pending one follows it at once.
    await vi.advanceTimersByTimeAsync(1)
    expect(saves()).toHaveLength(2)
    expect(cloudDraft()).toMatchObject({ step: 'items' })
  })

  it('keeps the writes in order: a change made while one is on its way is written after it', async () => {
    cloud.delayMs = 50
    saveQuiz(7, draft({ person: upload('p') }))
    const first = flushQuiz()
    saveQuiz(7, draft({ person: upload('p'), step: 'what' }))
    await first
    await flushQuiz()
    expect(saves().map(([, p]) => JSON.parse(String(p.value)).step)).toEqual(['you', 'what'])
    expect(cloudDraft()).toMatchObject({ step: 'what' })
  })

  it('opens on another device (empty localStorage) from CloudStorage, with fresh links', async () => {
    cloud.values.set(CLOUD_KEY, stored({ step: 'check', person: 'p', garments: ['g1', 'g2'], category: 'top', updatedAt: 2000 }))
    serverHas(['p'], ['g1', 'g2'])
    const restored = await restoreQuiz(7)
    expect(restored).toMatchObject({ step: 'check', category: 'top', jobId: null })
    expect(restored?.person?.url).toBe('/media/uploads/p.jpg?sig=fresh')
    expect(restored?.garments.map((g) => g.upload_id)).toEqual(['g1', 'g2'])
    // It becomes the local copy too (the next opening has it even if the cloud is slow).
    expect(storedQuiz(7)).toMatchObject({ step: 'check', updatedAt: 2000 })
    expect(storageCalls(events).at(-1)).toEqual(['getStorageValues', { keys: [CLOUD_KEY] }])
  })

  it('takes the newer of the two copies', async () => {
    localStorage.setItem('primerka.quiz.7', stored({ step: 'what', person: 'p', category: 'top', updatedAt: 1000 }))
    cloud.values.set(CLOUD_KEY, stored({ step: 'items', person: 'p', category: 'dress', updatedAt: 3000 }))
    await expect(readQuiz(7)).resolves.toMatchObject({ step: 'items', category: 'dress', updatedAt: 3000 })
    expect(storedQuiz(7)).toMatchObject({ category: 'dress' })

    // A local copy newer than the cloud's (its write was lost) wins and is written to the cloud.
    localStorage.setItem('primerka.quiz.7', stored({ step: 'check', person: 'p', garments: ['g'], category: 'top', updatedAt: 5000 }))
    await expect(readQuiz(7)).resolves.toMatchObject({ step: 'check', updatedAt: 5000 })
    await flushQuiz()
    expect(cloudDraft()).toMatchObject({ step: 'check', garments: ['g'], updatedAt: 5000 })
  })

  it('prefers a draft with a time over one stored before `updatedAt` existed, and still reads the old one', async () => {
    const old = JSON.stringify({ step: 'what', person: upload('p'), garments: [], category: 'top', jobId: null })
    localStorage.setItem('primerka.quiz.7', old)
    cloud.values.set(CLOUD_KEY, stored({ step: 'items', person: 'p', category: 'top', updatedAt: 10 }))
    await expect(readQuiz(7)).resolves.toMatchObject({ step: 'items' })
    cloud.values.set(CLOUD_KEY, old)
    localStorage.clear()
    await expect(readQuiz(7)).resolves.toEqual({ step: 'what', person: 'p', garments: [], category: 'top', jobId: null, updatedAt: 0 })
  })

  it('uses the local copy when CloudStorage does not answer in time or fails, and the quiz keeps working', async () => {
    localStorage.setItem('primerka.quiz.7', stored({ step: 'what', person: 'p', category: 'top', updatedAt: 1000 }))
    cloud.values.set(CLOUD_KEY, stored({ step: 'check', person: 'p', garments: ['g'], category: 'top', updatedAt: 9000 }))

    vi.useFakeTimers()
    cloud.mode = 'silent'
    let result: unknown = 'pending'
    void readQuiz(7).then((r) => (result = r))
    await vi.advanceTimersByTimeAsync(CLOUD_READ_TIMEOUT_MS - 1)
    expect(result).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(result).toMatchObject({ step: 'what', updatedAt: 1000 })
    vi.useRealTimers()

    cloud.mode = 'error'
    await expect(readQuiz(7)).resolves.toMatchObject({ step: 'what' })
    // A failing write costs only the cloud copy.
    expect(() => saveQuiz(7, draft({ step: 'items', person: upload('p'), category: 'top' }))).not.toThrow()
    await expect(flushQuiz()).resolves.toBeUndefined()
    expect(storedQuiz(7)).toMatchObject({ step: 'items' })
    expect(saves().length).toBeGreaterThan(0)
  })

  it('is cleared in both places', async () => {
    saveQuiz(7, draft({ person: upload('p'), step: 'what' }))
    await flushQuiz()
    expect(cloud.values.has(CLOUD_KEY)).toBe(true)
    // A write still waiting is dropped rather than sent after the removal.
    saveQuiz(7, draft({ person: upload('p'), step: 'what', category: 'top' }))
    await clearQuiz(7)
    expect(cloud.values.has(CLOUD_KEY)).toBe(false)
    expect(storedQuiz(7)).toBeNull()
    expect(storageCalls(events).at(-1)).toEqual(['deleteStorageValues', { keys: [CLOUD_KEY] }])
    await expect(readQuiz(7)).resolves.toBeNull()
  })

  it('reopens the try-on screen on the stored step, without showing the first step meanwhile', async () => {
    cloud.values.set(CLOUD_KEY, stored({ step: 'check', person: 'p', garments: ['g'], category: 'top', updatedAt: 2000 }))
    cloud.delayMs = 30
    vi.spyOn(globalThis, 'fetch').mockImplementation((input) => {
      const url = String(input)
      if (url === '/api/tryon/categories') return jsonReply(200, [{ id: 'top', title: 'Верх', icon: 'shirt' }])
      return jsonReply(200, { items: [upload(url.includes('kind=person') ? 'p' : 'g')] })
    })
    const me = { user: { id: 7, first_name: 'Аня', language_code: 'ru' }, balance: { free: 10, subscription: 0, purchased: 0, total: 10 }, prices: { tryon: 2, chat_message: 1, edit_generation: 1 }, demo: false }
    renderWithApp(<TryOn />, { state: { me, balance: me.balance, tryon: initialState.tryon } })
    expect(screen.getByRole('status')).toBeInTheDocument()
    expect(screen.queryByTestId('quiz')).toBeNull()
    expect(await screen.findByTestId('quiz-summary')).toBeInTheDocument()
    expect(screen.getByTestId('quiz')).toHaveAttribute('data-step', 'check')
    expect([...screen.getByTestId('quiz-summary').querySelectorAll('img')].map((i) => i.getAttribute('src'))).toEqual([
      '/media/uploads/p.jpg?sig=fresh',
      '/media/uploads/g.jpg?sig=fresh',
    ])
    // Reading it back is no change: nothing is written back to the cloud.
    await flushQuiz()
    expect(saves()).toHaveLength(0)
  })
})
