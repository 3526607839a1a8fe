import { createContext, useContext } from 'react'
import type { Dispatch } from 'react'
import type { Action, State } from './state'
import type { Strings } from './i18n'

export type Screen = 'home' | 'tryon' | 'editor' | 'gallery' | 'profile' | 'plans'

export type AppContextValue = {
  state: State
  dispatch: Dispatch<Action>
  t: Strings
  go: (screen: Screen) => void
  refreshMe: () => Promise<void>
}

export const AppContext = createContext<AppContextValue | null>(null)

export function useApp(): AppContextValue {
  const value = useContext(AppContext)
  if (!value) throw new Error('useApp outside AppContext')
  return value
}
