// Where the user is: a stack of screens, so Telegram's BackButton walks back one screen at a
// time (Home is always the bottom). Pure; App keeps it in state.
import type { Screen } from './app-context'

export type Nav = Screen[]

export const HOME: Nav = ['home']

/** Opens `screen`: Home resets the stack, a screen already on it is returned to (the screens above
 *  it are closed), any other is pushed. */
export function open(nav: Nav, screen: Screen): Nav {
  if (screen === 'home') return HOME
  const at = nav.indexOf(screen)
  if (at >= 0) return nav.slice(0, at + 1)
  return [...nav, screen]
}

/** One screen back (Home stays). */
export function back(nav: Nav): Nav {
  return nav.length > 1 ? nav.slice(0, -1) : nav
}

export function current(nav: Nav): Screen {
  return nav[nav.length - 1] ?? 'home'
}
