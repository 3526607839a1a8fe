import { createContext, useContext, useEffect } from 'react'
import type { Dispatch } from 'react'
import type { Action, State } from './state'
import type { Strings } from './i18n'

export type Screen = 'home' | 'tryon' | 'editor' | 'gallery' | 'profile' | 'plans' | 'legal' | 'admin'

export type AppContextValue = {
  state: State
  dispatch: Dispatch<Action>
  t: Strings
  go: (screen: Screen) => void
  refreshMe: () => Promise<void>
  /** A view opened inside a screen (a gallery item) registers how to close it: Telegram's
   *  BackButton then closes it before it leaves the screen. */
  setOverlayBack?: (close: (() => void) | null) => void
}

export const AppContext = createContext<AppContextValue | null>(null)

export function useApp(): AppContextValue {
  const value = useContext(AppContext)
  if (!value) throw new Error('useApp outside AppContext')
  return value
}

/** While `close` is set, the BackButton calls it (one step back inside the screen). */
export function useOverlayBack(close: (() => void) | null): void {
  const { setOverlayBack } = useApp()
  const active = close !== null
  useEffect(() => {
    if (!active || !setOverlayBack) return
    setOverlayBack(close)
    return () => setOverlayBack(null)
    // The closer only changes with `active`; a new function each render must not re-register.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active, setOverlayBack])
}
