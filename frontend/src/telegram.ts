// Telegram WebApp integration: the SDK object, theme → CSS variables, the native MainButton and
// BackButton, haptics, popups, invoices, links, downloads, CloudStorage.
import { useEffect, useRef } from 'react'
import sdk from '@twa-dev/sdk'
import { buildPalette, type Palette, type ThemeParams } from './theme'

type WebApp = typeof sdk

/** Telegram's `window.Telegram.WebApp`. `@twa-dev/sdk` is CommonJS: depending on the bundler's
 *  interop its default import is the WebApp or the module object `{__esModule, default}` (Vite's
 *  production build gives the latter). Loading it runs Telegram's telegram-web-app.js, which
 *  defines `window.Telegram.WebApp`: that object is what the app uses.
 *  (`src/telegram.bundle.test.ts` builds this file with the production bundler and checks it.) */
function resolveWebApp(): WebApp {
  const fromWindow = (window as unknown as { Telegram?: { WebApp?: WebApp } }).Telegram?.WebApp
  if (fromWindow) return fromWindow
  const module = sdk as unknown as { default?: WebApp }
  return module.default ?? sdk
}

export const tg: WebApp = resolveWebApp()

/** True inside Telegram (launch parameters carry initData). Outside, the app asks the server
 *  whether the demo login exists. */
export function insideTelegram(): boolean {
  return Boolean(tg.initData)
}

/** `startapp=<value>` of the link that opened the Mini App (e.g. `paid_<payment id>`). */
export function startParam(): string | undefined {
  return tg.initDataUnsafe?.start_param || undefined
}

function versionAtLeast(version: string): boolean {
  try {
    return insideTelegram() && tg.isVersionAtLeast(version)
  } catch {
    return false
  }
}

let palette: Palette | null = null

/** The colours in use (after `applyTheme`). */
export function currentPalette(): Palette | null {
  return palette
}

/** Telegram's theme (or the browser's light/dark preference outside Telegram) → `--app-*`
 *  variables; inside Telegram the header, background and bottom bar follow the page. */
export function applyTheme(): void {
  const root = document.documentElement
  const prefersDark = window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false
  const params = (insideTelegram() ? (tg.themeParams ?? {}) : {}) as unknown as ThemeParams
  const built = buildPalette(params, prefersDark ? 'dark' : 'light')
  palette = built.palette
  for (const [name, value] of Object.entries(built.palette)) root.style.setProperty(`--app-${name}`, value)
  root.dataset.scheme = built.scheme
  root.style.colorScheme = built.scheme
  document.querySelector('meta[name="theme-color"]')?.setAttribute('content', built.palette.page)
  if (!insideTelegram()) return
  try {
    if (versionAtLeast('6.1')) {
      tg.setHeaderColor(built.palette.page as `#${string}`)
      tg.setBackgroundColor(built.palette.page as `#${string}`)
    }
    if (versionAtLeast('7.10')) tg.setBottomBarColor(built.palette.section as `#${string}`)
  } catch {
    /* an older client */
  }
}

export function initTelegram(): void {
  applyTheme()
  if (!insideTelegram()) {
    window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', applyTheme)
    return
  }
  tg.onEvent('themeChanged', applyTheme)
  tg.ready()
  tg.expand()
  // The app scrolls; a swipe down should scroll it, not close it (7.7+).
  if (versionAtLeast('7.7')) tg.disableVerticalSwipes()
}

export function haptic(kind: 'success' | 'error' | 'light'): void {
  if (!versionAtLeast('6.1')) return
  if (kind === 'light') tg.HapticFeedback.impactOccurred('light')
  else tg.HapticFeedback.notificationOccurred(kind)
}

export function telegramLanguage(): string | undefined {
  return tg.initDataUnsafe?.user?.language_code
}

/** Asks the user to confirm: Telegram's native popup inside Telegram (6.2+), the browser's otherwise. */
export function confirmAction(message: string): Promise<boolean> {
  if (versionAtLeast('6.2')) {
    return new Promise((resolve) => tg.showConfirm(message, (ok) => resolve(Boolean(ok))))
  }
  return Promise.resolve(window.confirm(message))
}

/** While a paid job runs, closing the Mini App asks first (Telegram 6.2+). */
export function setClosingConfirmation(on: boolean): void {
  if (!versionAtLeast('6.2')) return
  if (on) tg.enableClosingConfirmation()
  else tg.disableClosingConfirmation()
}

/** Inside Telegram, shows the MainButton with `text` while mounted and `visible`: active exactly
 *  when `enabled` (and not in `progress`), and its press runs `onClick`. The screen then hides its
 *  own button (`useMainButton` returns true). Outside Telegram it does nothing. */
export function useMainButton(text: string, onClick: () => void, { visible = true, enabled = true, progress = false } = {}): boolean {
  const active = insideTelegram() && visible
  const handler = useRef(onClick)
  useEffect(() => {
    handler.current = onClick
  })
  useEffect(() => {
    if (!active) return
    const click = () => handler.current()
    tg.MainButton.onClick(click)
    return () => {
      tg.MainButton.offClick(click)
      tg.MainButton.hide()
    }
  }, [active])
  useEffect(() => {
    if (!active) return
    const button = tg.MainButton
    button.setParams({ text, is_visible: true })
    if (progress) {
      button.showProgress(false)
    } else {
      // hideProgress() re-activates the button: set the state after it.
      if (button.isProgressVisible) button.hideProgress()
      button.setParams({ is_active: enabled })
    }
  }, [active, text, enabled, progress])
  return active
}

/** Telegram's BackButton: shown while `visible`; its press calls `onBack`. */
export function useBackButton(visible: boolean, onBack: () => void): void {
  const handler = useRef(onBack)
  useEffect(() => {
    handler.current = onBack
  })
  useEffect(() => {
    if (!versionAtLeast('6.1')) return
    const back = () => handler.current()
    tg.BackButton.onClick(back)
    return () => {
      tg.BackButton.offClick(back)
    }
  }, [])
  useEffect(() => {
    if (!versionAtLeast('6.1')) return
    if (visible) tg.BackButton.show()
    else tg.BackButton.hide()
  }, [visible])
}

/** Calls `callback` when the app comes back to the foreground: the page becomes visible again,
 *  or Telegram reports the Mini App active again (8.0 `visibility_changed`). */
export function onForeground(callback: () => void): () => void {
  const visible = () => {
    if (document.visibilityState === 'visible') callback()
  }
  document.addEventListener('visibilitychange', visible)
  const inTelegram = insideTelegram()
  if (inTelegram) tg.onEvent('activated', callback)
  return () => {
    document.removeEventListener('visibilitychange', visible)
    if (inTelegram) tg.offEvent('activated', callback)
  }
}

/** Calls `callback` when the app goes to the background or is being closed: the page is hidden
 *  or unloaded, or Telegram reports the Mini App inactive (8.0 `visibility_changed`). A last
 *  chance to send what is pending. */
export function onBackground(callback: () => void): () => void {
  const hidden = () => {
    if (document.visibilityState === 'hidden') callback()
  }
  document.addEventListener('visibilitychange', hidden)
  window.addEventListener('pagehide', callback)
  const inTelegram = insideTelegram()
  if (inTelegram) tg.onEvent('deactivated', callback)
  return () => {
    document.removeEventListener('visibilitychange', hidden)
    window.removeEventListener('pagehide', callback)
    if (inTelegram) tg.offEvent('deactivated', callback)
  }
}

/** Opens a page outside the Mini App (the external browser inside Telegram; this tab outside). */
export function openExternal(url: string): void {
  if (insideTelegram()) tg.openLink(url)
  else location.assign(url)
}

/** Shares `url` with a text: Telegram's chat picker inside Telegram (`openTelegramLink` on
 *  `t.me/share/url`), the system share sheet or the clipboard outside. Resolves `true` when the
 *  link was copied rather than shared. */
export async function shareLink(url: string, text: string): Promise<boolean> {
  const share = `https://t.me/share/url?url=${encodeURIComponent(url)}&text=${encodeURIComponent(text)}`
  if (insideTelegram()) {
    tg.openTelegramLink(share)
    return false
  }
  if (navigator.share) {
    try {
      await navigator.share({ url, text })
      return false
    } catch {
      /* dismissed or not allowed: copy instead */
    }
  }
  await navigator.clipboard?.writeText(url)
  return true
}

/** Opens a Stars invoice; resolves with Telegram's status (`paid`, `cancelled`, `failed`, `pending`). */
export function openInvoice(link: string): Promise<string> {
  return new Promise((resolve, reject) => {
    try {
      tg.openInvoice(link, (status) => resolve(status))
    } catch (e) {
      reject(e)
    }
  })
}

/** A signed media URL that answers with `Content-Disposition: attachment`. */
export function downloadUrl(url: string): string {
  if (!url) return url
  return `${url}${url.includes('?') ? '&' : '?'}download=1`
}

/** Telegram 8.0+ saves files through its own dialog (HTTPS only); returns false when the
 *  browser should do it through the attachment link. */
export function downloadInTelegram(url: string, fileName = 'primerka.jpg'): boolean {
  if (!url || !versionAtLeast('8.0')) return false
  const absolute = new URL(downloadUrl(url), location.href)
  if (absolute.protocol !== 'https:') return false
  try {
    tg.downloadFile({ url: absolute.toString(), file_name: fileName })
    return true
  } catch {
    return false
  }
}

/** Shares a picture to the user's Telegram story (7.8+; the URL must be public HTTPS). Returns
 *  false where the client cannot. */
export function shareToStory(url: string, text: string): boolean {
  if (!url || !insideTelegram() || !versionAtLeast('7.8')) return false
  const absolute = new URL(url, location.href)
  try {
    tg.shareToStory(absolute.toString(), { text })
    return true
  } catch {
    return false
  }
}

/** A light tick for a choice (a card, a step). */
export function hapticSelection(): void {
  if (versionAtLeast('6.1')) tg.HapticFeedback.selectionChanged()
}

/** Telegram's "share your phone number" (`requestContact`, Bot API 6.9+): the number the user
 *  shared, or null when they declined or the client cannot. */
export function requestPhone(): Promise<string | null> {
  if (!versionAtLeast('6.9')) return Promise.resolve(null)
  return new Promise((resolve) => {
    try {
      tg.requestContact((shared, response) => {
        const phone = shared && response?.status === 'sent' ? response.responseUnsafe?.contact?.phone_number : undefined
        resolve(phone ? String(phone) : null)
      })
    } catch {
      resolve(null)
    }
  })
}

/** Whether `requestPhone` can work in this client. */
export function canRequestPhone(): boolean {
  return versionAtLeast('6.9')
}

/** Telegram's CloudStorage limits (Bot API 6.9): keys of 1–128 characters `A-Z a-z 0-9 _ -`,
 *  values of at most 4096 characters, 1024 keys per user. */
export const CLOUD_KEY_PATTERN = /^[A-Za-z0-9_-]{1,128}$/
export const CLOUD_VALUE_MAX = 4096

/** Why a CloudStorage call did not happen: the client has none, the key or value breaks
 *  Telegram's limits, Telegram answered an error, or no answer came in time. */
export class CloudStorageError extends Error {
  constructor(
    readonly reason: 'unsupported' | 'invalid' | 'failed' | 'timeout',
    message: string,
  ) {
    super(message)
    this.name = 'CloudStorageError'
  }
}

function cloudCall<T>(what: string, key: string, timeoutMs: number, call: (done: (error: string | null, result?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    if (!cloudStorage.available()) return reject(new CloudStorageError('unsupported', 'CloudStorage needs Telegram 6.9+'))
    if (!CLOUD_KEY_PATTERN.test(key)) return reject(new CloudStorageError('invalid', `CloudStorage key ${JSON.stringify(key)} is not allowed`))
    let settled = false
    const finish = (outcome: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      outcome()
    }
    const timer = setTimeout(() => finish(() => reject(new CloudStorageError('timeout', `CloudStorage ${what}: no answer within ${timeoutMs} ms`))), timeoutMs)
    try {
      call((error, result) =>
        finish(() => (error ? reject(new CloudStorageError('failed', `CloudStorage ${what}: ${String(error)}`)) : resolve(result))),
      )
    } catch (e) {
      finish(() => reject(new CloudStorageError('failed', `CloudStorage ${what}: ${e instanceof Error ? e.message : String(e)}`)))
    }
  })
}

/** Telegram's CloudStorage as promises: kept by Telegram's servers per user (and bot), so it
 *  outlives the WebView and follows the user to their other devices. Every call rejects with a
 *  `CloudStorageError` rather than waiting longer than `timeoutMs`; outside Telegram or in a
 *  client older than 6.9 `available()` is false and every call rejects. */
export const cloudStorage = {
  available(): boolean {
    return versionAtLeast('6.9') && Boolean(tg.CloudStorage)
  },
  /** The stored value, or null when the key holds none (Telegram answers an empty string). */
  async get(key: string, timeoutMs = 1500): Promise<string | null> {
    const value = await cloudCall<string>('get', key, timeoutMs, (done) => tg.CloudStorage.getItem(key, done))
    return typeof value === 'string' && value !== '' ? value : null
  },
  async set(key: string, value: string, timeoutMs = 10_000): Promise<void> {
    if (value.length > CLOUD_VALUE_MAX) throw new CloudStorageError('invalid', `CloudStorage value of ${value.length} characters (at most ${CLOUD_VALUE_MAX})`)
    await cloudCall<boolean>('set', key, timeoutMs, (done) => tg.CloudStorage.setItem(key, value, done))
  },
  async remove(key: string, timeoutMs = 10_000): Promise<void> {
    await cloudCall<boolean>('remove', key, timeoutMs, (done) => tg.CloudStorage.removeItem(key, done))
  },
}
