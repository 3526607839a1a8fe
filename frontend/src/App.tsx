import { lazy, Suspense, useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react'
import { api, getToken, setApiLanguage, setRelogin, setRequirementHandler, setToken, type Need } from './api'
import { AppContext, type Screen } from './app-context'
import { Icon } from './components/icons'
import { JobsBar } from './components/JobsBar'
import { BalancePill, Button, ErrorBox, ScreenSkeleton } from './components/ui'
import { pickLang, strings, type Lang } from './i18n'
import { hasUnfinished, useJobSync } from './jobs'
import { back, current, HOME, open, type Nav } from './nav'
import { paidStartParam } from './payments'
import { Home } from './screens/Home'
import { Outside } from './screens/Outside'
import { openSocket, type SocketControl } from './socket'
import { initialState, reducer } from './state'
import { insideTelegram, onForeground, setClosingConfirmation, startParam, telegramLanguage, tg, useBackButton } from './telegram'

/** Outside Telegram without a demo login there is nobody to log in as. */
class NotInTelegram extends Error {}

/** Inside Telegram: initData exactly as Telegram gave it. Outside, only where the server offers
 *  the demo login (demo mode), as the demo user or `?demo_user=<id>` (the browser tests use one
 *  user per flow). */
async function login(lang: string): Promise<void> {
  let initData = tg.initData
  if (!insideTelegram()) {
    if (!(await api.demoStatus()).enabled) throw new NotInTelegram()
    const fromUrl = new URLSearchParams(location.search).get('demo_user')
    if (fromUrl) sessionStorage.setItem('demo_user', fromUrl)
    // Kept for the tab's life, so the return from the payment page is the same demo user.
    const demoUser = Number(fromUrl ?? sessionStorage.getItem('demo_user')) || undefined
    initData = (await api.devLogin(lang, demoUser)).init_data
  }
  const { token } = await api.login(initData)
  setToken(token)
}

/** Where the app opens: the plans screen following a payment when YooKassa sent the user back
 *  (`/plans?payment=`) or Telegram reopened the app from that page (`startapp=paid_<id>`). */
function initialRoute(): { nav: Nav; paymentId: string | null } {
  const fromStart = paidStartParam(startParam())
  if (fromStart) return { nav: open(HOME, 'plans'), paymentId: fromStart }
  if (location.pathname.startsWith('/plans')) {
    return { nav: open(HOME, 'plans'), paymentId: new URLSearchParams(location.search).get('payment') }
  }
  return { nav: HOME, paymentId: null }
}

// Screens other than Home are separate chunks, loaded on first visit.
const TryOn = lazy(() => import('./screens/TryOn').then((m) => ({ default: m.TryOn })))
const Editor = lazy(() => import('./screens/Editor').then((m) => ({ default: m.Editor })))
const Gallery = lazy(() => import('./screens/Gallery').then((m) => ({ default: m.Gallery })))
const Profile = lazy(() => import('./screens/Profile').then((m) => ({ default: m.Profile })))
const Plans = lazy(() => import('./screens/Plans').then((m) => ({ default: m.Plans })))
const Legal = lazy(() => import('./screens/Legal').then((m) => ({ default: m.Legal })))
const RequirementSheet = lazy(() => import('./components/Requirements').then((m) => ({ default: m.RequirementSheet })))
// The first-open cards: only new users need them, so they stay out of the start bundle.
const Onboarding = lazy(() => import('./components/Onboarding').then((m) => ({ default: m.Onboarding })))
const Admin = lazy(() => import('./screens/Admin').then((m) => ({ default: m.Admin })))

const TABS = ['home', 'tryon', 'editor', 'gallery', 'profile'] as const

export default function App({ skeleton = '' }: { skeleton?: string }) {
  const [state, dispatch] = useReducer(reducer, initialState)
  const [lang, setLang] = useState<Lang>(pickLang(telegramLanguage() ?? navigator.language))
  const [start] = useState(initialRoute)
  const [nav, setNav] = useState<Nav>(start.nav)
  const [overlayBack, setOverlay] = useState<(() => void) | null>(null)
  const [outside, setOutside] = useState(false)
  const [bootError, setBootError] = useState<unknown>(null)
  const [attempt, setAttempt] = useState(0)
  const [onboarded, setOnboarded] = useState(false)
  const socket = useRef<SocketControl | null>(null)
  const screen = current(nav)
  const t = strings(lang)
  useEffect(() => setApiLanguage(lang), [lang])
  // A request that needs a consent or a receipt contact first asks the user with a sheet, then
  // goes ahead (or fails as refused when the user cancels).
  const [need, setNeed] = useState<{ need: Need; resolve: (given: boolean) => void } | null>(null)
  useEffect(() => {
    setRequirementHandler((n) => new Promise((resolve) => setNeed({ need: n, resolve })))
    return () => setRequirementHandler(null)
  }, [])

  const refreshMe = useCallback(async () => {
    const me = await api.me()
    dispatch({ type: 'me', me })
    setLang(pickLang(me.user.language_code))
  }, [])
  const reloadChat = useCallback(async () => {
    const chat = await api.chat()
    dispatch({ type: 'chat', messages: chat.messages, image: chat.current_image?.url ?? null })
  }, [])
  const syncJobs = useJobSync({ jobs: state.jobs, dispatch, refreshMe, reloadChat, enabled: state.me !== null })

  useEffect(() => {
    let stopped = false
    setBootError(null)
    setRelogin(() => login(lang))
    login(lang)
      .then(refreshMe)
      .then(() => {
        if (stopped) return
        socket.current = openSocket(
          getToken,
          (event) => dispatch({ type: 'event', event }),
          (online) => dispatch({ type: 'online', online }),
          {
            renewToken: () => login(lang),
            ticket: api.wsTicket,
            // Events may have been missed while the socket was down: re-read the balance, the
            // plan and the unfinished jobs.
            onReconnect: () => {
              void refreshMe().catch(() => undefined)
              void syncJobs()
            },
          },
        )
      })
      .catch((e) => {
        if (e instanceof NotInTelegram) setOutside(true)
        else setBootError(e)
      })
    return () => {
      stopped = true
      socket.current?.stop()
      socket.current = null
    }
    // Log in once per attempt; language changes do not need a new session.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [attempt, refreshMe])

  // Back in the foreground (or back online): reconnect now and re-read what may have changed.
  useEffect(() => {
    const wake = () => {
      socket.current?.wake()
      if (getToken()) {
        void syncJobs()
        void refreshMe().catch(() => undefined)
      }
    }
    const off = onForeground(wake)
    window.addEventListener('online', wake)
    return () => {
      off()
      window.removeEventListener('online', wake)
    }
  }, [syncJobs, refreshMe])

  // Opened from the bot's "open in the app" button under a result (`?result=<id>`): show it on
  // the try-on screen.
  const loggedIn = state.me !== null
  useEffect(() => {
    if (!loggedIn) return
    const id = new URLSearchParams(location.search).get('result')
    if (!id) return
    history.replaceState(null, '', location.pathname + location.hash)
    api
      .generation(id)
      .then((g) => {
        dispatch({ type: 'jobs/read', generations: [g] })
        if (g.kind === 'tryon') dispatch({ type: 'tryon', patch: { jobId: g.id } })
        setNav((n) => open(n, g.kind === 'tryon' ? 'tryon' : 'gallery'))
      })
      .catch(() => undefined)
  }, [loggedIn])

  // Closing the Mini App while a paid job runs asks first.
  const running = hasUnfinished(state.jobs)
  useEffect(() => setClosingConfirmation(running), [running])

  const go = useCallback((to: Screen) => setNav((n) => open(n, to)), [])
  const goBack = useCallback(() => {
    if (overlayBack) overlayBack()
    else setNav(back)
  }, [overlayBack])
  useBackButton(nav.length > 1 || overlayBack !== null, goBack)
  const setOverlayBack = useCallback((close: (() => void) | null) => setOverlay(() => close), [])

  // A new screen starts at its top. The payment the app was opened for is followed on the first
  // visit to the plans screen only.
  const [followPayment, setFollowPayment] = useState(start.paymentId)
  useEffect(() => {
    window.scrollTo?.(0, 0)
    if (screen !== 'plans') setFollowPayment(null)
  }, [screen])

  const context = useMemo(
    () => ({ state, dispatch, t, go, refreshMe, setOverlayBack }),
    [state, t, go, refreshMe, setOverlayBack],
  )

  if (outside) return <Outside t={t} />
  if (bootError !== null) {
    return (
      <AppContext.Provider value={context}>
        <main className="mx-auto flex min-h-[100dvh] max-w-md flex-col justify-center gap-4 p-4">
          <ErrorBox error={bootError} />
          <Button onClick={() => setAttempt((a) => a + 1)}>{t.retry}</Button>
        </main>
      </AppContext.Provider>
    )
  }
  if (!state.me) {
    // The same placeholder the page showed before the script ran (index.html).
    return <div dangerouslySetInnerHTML={{ __html: skeleton }} />
  }

  const title = { home: '', tryon: t.tryonTitle, editor: t.editor, gallery: t.gallery, profile: t.profile, plans: t.plans, admin: t.operator, legal: t.documents }[screen]
  // The first open explains the app in three cards (until finished or skipped; remembered by the server).
  const onboarding = state.me.onboarded === false && !onboarded
  return (
    <AppContext.Provider value={context}>
      <div className="mx-auto flex min-h-[100dvh] max-w-md flex-col pb-[calc(var(--tabbar)+var(--safe-bottom))]">
        <header className="flex min-h-14 items-center justify-between gap-2 px-4 pt-1">
          {/* Telegram's own header names the app: screens other than Home name themselves. */}
          {title ? (
            <h1 className="min-w-0 text-lg font-semibold leading-tight" data-testid="title">
              {title}
            </h1>
          ) : (
            <span />
          )}
          <BalancePill />
        </header>
        {!state.online && (
          <p role="status" data-testid="offline" className="mx-4 mb-2 rounded-xl bg-section p-2 text-center text-sm text-hint">
            {t.offline}
          </p>
        )}
        <main className={`flex flex-1 flex-col px-4 ${screen === 'editor' ? '' : 'pb-3'}`}>
          <JobsBar screen={screen} />
          <Suspense fallback={<ScreenSkeleton label={t.loading} />}>
            {screen === 'home' && <Home />}
            {screen === 'tryon' && <TryOn />}
            {screen === 'editor' && <Editor />}
            {screen === 'gallery' && <Gallery />}
            {screen === 'profile' && <Profile onLanguage={setLang} />}
            {screen === 'plans' && <Plans paymentId={followPayment} />}
            {screen === 'legal' && <Legal />}
            {screen === 'admin' && state.me.user.is_admin && <Admin />}
          </Suspense>
        </main>
        {need && (
          <Suspense fallback={null}>
            <RequirementSheet
              need={need.need}
              onDone={(given) => {
                need.resolve(given)
                setNeed(null)
              }}
            />
          </Suspense>
        )}
        <nav
          className="fixed inset-x-0 bottom-0 z-10 mx-auto flex max-w-md justify-around border-t border-line bg-section pb-[var(--safe-bottom)]"
          aria-label={t.tabsLabel}
        >
          {TABS.map((tab) => (
            <button
              key={tab}
              data-testid={`tab-${tab}`}
              aria-current={screen === tab ? 'page' : undefined}
              onClick={() => go(tab)}
              className={`flex h-[var(--tabbar)] min-w-0 flex-1 flex-col items-center justify-center gap-0.5 text-[11px] font-medium ${screen === tab ? 'text-accent-fg' : 'text-hint'}`}
            >
              <Icon name={tab} className="h-6 w-6 shrink-0" />
              <span className="max-w-full truncate">{{ home: t.home, tryon: t.tryon, editor: t.editor, gallery: t.gallery, profile: t.profile }[tab]}</span>
            </button>
          ))}
        </nav>
      </div>
      {onboarding && (
        <Suspense fallback={null}>
          <Onboarding onDone={() => setOnboarded(true)} />
        </Suspense>
      )}
    </AppContext.Provider>
  )
}
