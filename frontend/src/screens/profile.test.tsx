import { fireEvent, screen, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { setRequirementHandler } from '../api'
import { strings } from '../i18n'
import { wantedDocument } from '../legal'
import { saveQuiz, storedQuiz } from '../quiz'
import { initialState } from '../state'
import { meWithPlan as me } from '../test/fixtures'
import { jsonReply, renderWithApp } from '../test/render'
import { Profile } from './Profile'

const ru = strings('ru')

afterEach(() => {
  vi.restoreAllMocks()
  setRequirementHandler(null)
})

describe('Profile', () => {
  it('turns auto-renewal off in one tap (after the confirmation) and opens the documents', async () => {
    const calls: string[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${String(input)}`)
      if (String(input) === '/api/subscription/cancel') return jsonReply(200, { plan: { ...me.plan, auto_renew: false } })
      return jsonReply(200, { items: [], next_cursor: null })
    })
    vi.spyOn(window, 'confirm').mockReturnValue(true)
    const { value } = renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me, balance: me.balance } })
    fireEvent.click(await screen.findByTestId('cancel-plan'))
    await waitFor(() => expect(calls).toContain('POST /api/subscription/cancel'))
    expect(window.confirm).toHaveBeenCalledWith(ru.confirmCancelPlan)
    await waitFor(() => expect(value.refreshMe).toHaveBeenCalled())

    fireEvent.click(screen.getByTestId('open-legal'))
    expect(value.go).toHaveBeenCalledWith('legal')
    expect(wantedDocument()).toBe('offer')
  })

  it('shows where receipts go and changes it through the contact sheet', async () => {
    let contact = { email: 'anna@mail.ru', phone: null as string | null }
    vi.spyOn(globalThis, 'fetch').mockImplementation((input) =>
      String(input) === '/api/me/contact' ? jsonReply(200, contact) : jsonReply(200, { items: [], next_cursor: null }),
    )
    const asked: string[] = []
    setRequirementHandler(async (need) => {
      asked.push(need)
      contact = { email: null as unknown as string, phone: '79001234567' }
      return true
    })
    renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me, balance: me.balance } })
    await waitFor(() => expect(screen.getByTestId('receipt-contact')).toHaveTextContent(ru.contactSaved('anna@mail.ru')))
    fireEvent.click(screen.getByTestId('change-contact'))
    await waitFor(() => expect(screen.getByTestId('receipt-contact')).toHaveTextContent(ru.contactSaved('+79001234567')))
    expect(asked).toEqual(['contact'])
  })

  it('has no cancel button without a renewing plan', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(() => jsonReply(200, { items: [], next_cursor: null }))
    renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me: { ...me, plan: null }, balance: me.balance } })
    await screen.findByTestId('open-legal')
    expect(screen.queryByTestId('cancel-plan')).not.toBeInTheDocument()
  })

  it('deletes my data after the confirmation, and the try-on draft with it', async () => {
    saveQuiz(me.user.id, { ...initialState.tryon, step: 'what', person: { upload_id: 'p', url: '/p.jpg', width: 1, height: 1 } })
    const calls: string[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${String(input)}`)
      return String(input) === '/api/me' && init?.method === 'DELETE' ? Promise.resolve(new Response(null, { status: 204 })) : jsonReply(200, { items: [], next_cursor: null })
    })
    vi.spyOn(window, 'confirm').mockReturnValue(true)
    const { value } = renderWithApp(<Profile onLanguage={() => undefined} />, { state: { me, balance: me.balance } })
    fireEvent.click(await screen.findByTestId('delete-data'))
    await screen.findByText(ru.dataDeleted)
    expect(calls).toContain('DELETE /api/me')
    expect(storedQuiz(me.user.id)).toBeNull()
    expect(value.dispatch).toHaveBeenCalledWith({ type: 'tryon', patch: initialState.tryon })
  })
})
