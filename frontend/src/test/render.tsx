import { render } from '@testing-library/react'
import type { ReactElement } from 'react'
import { vi } from 'vitest'
import { AppContext, type AppContextValue } from '../app-context'
import { strings } from '../i18n'
import { initialState, type State } from '../state'

/** Renders `ui` inside the app context (Russian strings unless told), with spies for navigation. */
export function renderWithApp(ui: ReactElement, overrides: Partial<Omit<AppContextValue, 'state'>> & { state?: Partial<State> } = {}) {
  const value: AppContextValue = {
    dispatch: vi.fn(),
    t: strings('ru'),
    go: vi.fn(),
    refreshMe: vi.fn(async () => undefined),
    ...overrides,
    state: { ...initialState, ...overrides.state },
  }
  return { ...render(<AppContext.Provider value={value}>{ui}</AppContext.Provider>), value }
}

export function jsonReply(status: number, body: unknown): Promise<Response> {
  return Promise.resolve(
    new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }),
  )
}
