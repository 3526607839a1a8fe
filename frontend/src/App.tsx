import { lazy, Suspense, useCallback, useEffect, useMemo, useReducer, useState } from 'react'
import { api, getToken, setApiLanguage, setRelogin, setToken } from './api'
import { AppContext, type Screen } from './app-context'
import { Icon } from './components/icons'
import { BalancePill, Button, ErrorBox, Spinner } from './components/ui'
import { pickLang, strings, type Lang } from './i18n'
import { Home } from './screens/Home'
import { openSocket } from './socket'
import { initialState, reducer } from './state'
import { insideTelegram, setClosingConfirmation, telegramLanguage, tg } from './telegram'

/** Inside Telegram: the real initData. Outside (demo mode only): the backend's dev login,
 *  as the demo user or as `?demo_user=<id>` (the end-to-end tests use one user per flow). */
async function login(lang: string): Promise<void> {
  const fromUrl = new URLSearchParams(location.search).get('demo_user')
  if (fromUrl) sessionStorage.setItem('demo_user', fromUrl)
  // Kept for the tab's life, so the return from the payment page is the same demo user.
  const demoUser = Number(fromUrl ?? sessionStorage.getItem('demo_user')) || undefined
  const initData = insideTelegram() ? tg.initData : (await api.devLogin(lang, demoUser)).init_data
  const { token } = await api.login(initData)
  setToken(token)
}

// Screens other than Home are separate chunks, loaded on first visit.
const TryOn = lazy(() => import('./screens/TryOn').then((m) => ({ default: m.TryOn })))
const Editor = lazy(() => import('./screens/Editor').then((m) => ({ default: m.Editor })))
const Gallery = lazy(() => import('./screens/Gallery').then((m) => ({ default: m.Gallery })))
const Profile = lazy(() => import('./screens/Profile').then((m) => ({ default: m.Profile })))
const Plans = lazy(() => import('./screens/Plans').then((m) => ({ default: m.Plans })))

const TABS = ['home', 'tryon', 'editor', 'gallery', 'profile'] as const

export default function App() {
  const [state, dispatch] = useReducer(reducer, initialState)
  const [lang, setLang] = useState<Lang>(pickLang(telegramLanguage() ?? navigator.language))
  const [screen, setScreen] = useState<Screen>(location.pathname.startsWith('/plans') ? 'plans' : 'home')
  const [bootError, setBootError] = useState<unknown>(null)
  const [attempt, setAttempt] = useState(0)
  const t = strings(lang)
  useEffect(() => setApiLanguage(lang), [lang])

  const refreshMe = useCallback(async () => {
    const me = await api.me()
    dispatch({ type: 'me', me })
    setLang(pickLang(me.user.language_code))
  }, [])

  useEffect(() => {
    let stop: (() => void) | undefined
    setBootError(null)
    setRelogin(() => login(lang))
    login(lang)
      .then(refreshMe)
      .then(() => {
        stop = openSocket(
          getToken,
          (event) => dispatch({ type: 'event', event }),
          (online) => dispatch({ type: 'online', online }),
          {
            renewToken: () => login(lang),
            // Events may have been missed while the socket was down: re-read the balance and plan.
            onReconnect: () => void refreshMe().catch(() => undefined),
          },
        )
      })
      .catch(setBootError)
    return () => stop?.()
    // Log in once per attempt; language changes do not need a new session.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [attempt, refreshMe])

  // Closing the Mini App while a paid job runs asks first.
  const running = Object.values(state.jobs).some((j) => j.status !== 'succeeded' && j.status !== 'failed')
  useEffect(() => setClosingConfirmation(running), [running])

  // Telegram's back button returns to the home screen.
  useEffect(() => {
    try {
      if (screen === 'home') tg.BackButton.hide()
      else tg.BackButton.show()
      const back = () => setScreen('home')
      tg.BackButton.onClick(back)
      return () => {
        tg.BackButton.offClick(back)
      }
    } catch {
      return undefined
    }
  }, [screen])

  const context = useMemo(() => ({ state, dispatch, t, go: setScreen, refreshMe }), [state, t, refreshMe])

  if (bootError !== null) {
    return (
      <AppContext.Provider value={context}>
        <main className="mx-auto flex min-h-screen max-w-md flex-col justify-center gap-4 p-4">
          <ErrorBox error={bootError} />
          <Button onClick={() => setAttempt((a) => a + 1)}>{t.retry}</Button>
        </main>
      </AppContext.Provider>
    )
  }
  if (!state.me) {
    return (
      <main className="flex min-h-screen items-center justify-center">
        <Spinner label={t.loading} />
      </main>
    )
  }

  const title = { home: t.appName, tryon: t.tryon, editor: t.editor, gallery: t.gallery, profile: t.profile, plans: t.plans }[screen]
  return (
    <AppContext.Provider value={context}>
      <div className="mx-auto flex min-h-screen max-w-md flex-col pb-[calc(4rem+env(safe-area-inset-bottom))]">
        <header className="sticky top-0 z-10 flex items-center justify-between bg-bg-glass px-4 py-3 backdrop-blur">
          <h1 className="text-xl font-semibold" data-testid="title">
            {title}
          </h1>
          <BalancePill />
        </header>
        {!state.online && (
          <p role="status" className="mx-4 mb-2 rounded-xl bg-bg-2 p-2 text-center text-xs text-hint">
            {t.offline}
          </p>
        )}
        <main className="flex-1 px-4">
          <Suspense fallback={<Spinner label={t.loading} />}>
          {screen === 'home' && <Home />}
          {screen === 'tryon' && <TryOn />}
          {screen === 'editor' && <Editor />}
          {screen === 'gallery' && <Gallery />}
          {screen === 'profile' && <Profile onLanguage={setLang} />}
          {screen === 'plans' && <Plans />}
          </Suspense>
        </main>
        <nav
          className="fixed inset-x-0 bottom-0 z-10 mx-auto flex max-w-md justify-around border-t border-line bg-bg pb-[env(safe-area-inset-bottom)]"
          aria-label={t.tabsLabel}
        >
          {TABS.map((tab) => (
            <button
              key={tab}
              data-testid={`tab-${tab}`}
              aria-current={screen === tab ? 'page' : undefined}
              onClick={() => setScreen(tab)}
              className={`flex flex-1 flex-col items-center gap-0.5 py-2 text-xs ${screen === tab ? 'text-accent' : 'text-hint'}`}
            >
              <Icon name={tab} className="h-6 w-6" />
              {{ home: t.home, tryon: t.tryon, editor: t.editor, gallery: t.gallery, profile: t.profile }[tab]}
            </button>
          ))}
        </nav>
      </div>
    </AppContext.Provider>
  )
}
