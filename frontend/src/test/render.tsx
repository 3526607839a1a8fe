import { render } from '@testing-library/react'
import { useCallback, useMemo, useReducer, type ReactElement, type ReactNode } from 'react'
import { vi } from 'vitest'
import { AppContext, type AppContextValue } from '../app-context'
import { strings } from '../i18n'
import { initialState, reducer, type Action, type State } from '../state'

type Overrides = Partial<Omit<AppContextValue, 'state'>> & { state?: Partial<State> }

/** The app context with the real reducer (so dispatched actions show), spies for navigation. */
function Provider({ spies, initial, children }: { spies: Omit<AppContextValue, 'state'>; initial: State; children: ReactNode }) {
  const [state, apply] = useReducer(reducer, initial)
  // Stable like React's own dispatch: effects that depend on it must not run again.
  const dispatch = useCallback(
    (action: Action) => {
      spies.dispatch(action)
      apply(action)
    },
    [spies],
  )
  const value = useMemo(() => ({ ...spies, state, dispatch }), [spies, state, dispatch])
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>
}

/** Renders `ui` inside the app context (Russian strings unless told). `value` holds the spies. */
export function renderWithApp(ui: ReactElement, overrides: Overrides = {}) {
  const { state, ...rest } = overrides
  const value = {
    dispatch: vi.fn(),
    t: strings('ru'),
    go: vi.fn(),
    refreshMe: vi.fn(async () => undefined),
    setOverlayBack: vi.fn(),
    ...rest,
  }
  const initial = { ...initialState, ...state }
  return {
    ...render(
      <Provider spies={value} initial={initial}>
        {ui}
      </Provider>,
    ),
    value,
  }
}

export function jsonReply(status: number, body: unknown): Promise<Response> {
  return Promise.resolve(
    new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }),
  )
}
