import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api, setRelogin, setRequirementHandler, setToken } from './api'

function reply(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }))
}

afterEach(() => {
  vi.restoreAllMocks()
  setToken(null)
  setRequirementHandler(null)
})

describe('api', () => {
  it('retries an upload the server was too busy to decode, then shows other errors at once', async () => {
    vi.useFakeTimers()
    const uploaded = { upload_id: 'u1', url: '/media/uploads/x.jpg', width: 10, height: 10 }
    const busy = { error: { code: 'unavailable', message: 'busy', request_id: 'r' } }
    const fetchMock = vi
      .spyOn(globalThis, 'fetch')
      .mockImplementationOnce(() => reply(503, busy))
      .mockImplementationOnce(() => reply(503, busy))
      .mockImplementationOnce(() => reply(201, uploaded))
    const done = api.upload(new Blob(['x'], { type: 'image/jpeg' }))
    await vi.advanceTimersByTimeAsync(6_000)
    await expect(done).resolves.toMatchObject({ upload_id: 'u1' })
    expect(fetchMock).toHaveBeenCalledTimes(3)

    fetchMock.mockImplementationOnce(() => reply(422, { error: { code: 'decode_failed', message: 'cut', request_id: 'r' } }))
    await expect(api.upload(new Blob(['x']))).rejects.toMatchObject({ code: 'decode_failed' })
    expect(fetchMock).toHaveBeenCalledTimes(4)
    vi.useRealTimers()
  })

  it('sends the token and validates the response', async () => {
    setToken('tok')
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      reply(200, {
        user: { id: 1, first_name: 'A', language_code: 'ru' },
        balance: { free: 10, subscription: 0, purchased: 0, total: 10 },
        prices: { tryon: 2, chat_message: 1, edit_generation: 1 },
        demo: true,
        extra: 'ignored',
      }),
    )
    const me = await api.me()
    expect(me.balance.total).toBe(10)
    const headers = fetchMock.mock.calls[0][1]?.headers as Headers
    expect(headers.get('Authorization')).toBe('Bearer tok')
  })

  it('surfaces the server error code and localised message', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      reply(402, { error: { code: 'insufficient_credits', message: 'Недостаточно кредитов.' } }),
    )
    const error = await api.tryon('a', ['b'], 'top').catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.code).toBe('insufficient_credits')
    expect(error.message).toBe('Недостаточно кредитов.')
  })

  it('rejects a response of the wrong shape', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => reply(200, { user: null }))
    await expect(api.me()).rejects.toThrow()
  })

  it('logs in again once when the token expired', async () => {
    let calls = 0
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => {
      calls += 1
      return calls === 1
        ? reply(401, { error: { code: 'token_expired', message: '' } })
        : reply(200, { messages: [], current_image: null })
    })
    const relogin = vi.fn(async () => setToken('new'))
    setRelogin(relogin)
    const chat = await api.chat()
    expect(chat.messages).toEqual([])
    expect(relogin).toHaveBeenCalledTimes(1)
  })
})

describe('ledger', () => {
  it('pages with the cursor, sends the UI language and tolerates extra fields', async () => {
    const { setApiLanguage } = await import('./api')
    setApiLanguage('en')
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(() =>
      reply(200, {
        items: [{ id: 7, kind: 'charge', amount: -2, reason: 'tryon', description: 'Charged 2 for a try-on', created_at: '2026-11-24T10:00:00Z' }],
        next_cursor: '7',
      }),
    )
    const page = await api.ledger('9')
    expect(page.items[0].amount).toBe(-2)
    expect(page.next_cursor).toBe('7')
    expect(String(fetchMock.mock.calls[0][0])).toBe('/api/me/ledger?limit=20&cursor=9')
    const headers = fetchMock.mock.calls[0][1]?.headers as Headers
    expect(headers.get('Accept-Language')).toBe('en')
  })

  it('rejects a malformed ledger entry', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => reply(200, { items: [{ id: 'x' }], next_cursor: null }))
    await expect(api.ledger()).rejects.toThrow()
  })

  it('asks for a consent and a contact the server requires, then repeats the request', async () => {
    const answers = [
      reply(403, { error: { code: 'consent_required', message: 'Примите условия.' } }),
      reply(409, { error: { code: 'contact_required', message: 'Укажите e-mail.' } }),
      reply(201, { payment_id: 'p', status: 'pending', product: 'sub_basic', credits: 50, amount_rub: '299.00' }),
    ]
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => answers.shift()!)
    const asked: string[] = []
    setRequirementHandler(async (need) => {
      asked.push(need)
      return true
    })
    const payment = await api.buy('sub_basic')
    expect(payment.payment_id).toBe('p')
    expect(asked).toEqual(['autorenew', 'contact'])
  })

  it('gives up when the user declines', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => reply(403, { error: { code: 'consent_required', message: 'Примите условия.' } }))
    setRequirementHandler(async () => false)
    const error = await api.upload(new Blob(['x']), 'a.jpg').catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.code).toBe('consent_required')
  })
})
