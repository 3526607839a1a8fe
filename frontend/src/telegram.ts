// Telegram WebApp integration: theme → CSS variables, initData, haptics, back button.
import { useEffect, useRef } from 'react'
import WebApp from '@twa-dev/sdk'

export const tg = WebApp

/** True inside Telegram (initData present). Outside, the app uses the demo login. */
export function insideTelegram(): boolean {
  return Boolean(tg.initData)
}

const THEME_VARS: Record<string, string> = {
  bg_color: '--tg-bg',
  secondary_bg_color: '--tg-secondary-bg',
  text_color: '--tg-text',
  hint_color: '--tg-hint',
  link_color: '--tg-link',
  button_color: '--tg-button',
  button_text_color: '--tg-button-text',
  destructive_text_color: '--tg-destructive',
}

const DARK: Record<string, string> = {
  '--tg-bg': '#17212b',
  '--tg-secondary-bg': '#232e3c',
  '--tg-text': '#f5f5f5',
  '--tg-hint': '#8a9aa9',
  '--tg-link': '#6ab3f3',
  '--tg-button': '#5288c1',
  '--tg-button-text': '#ffffff',
  '--tg-destructive': '#ec3942',
}

export function applyTheme(): void {
  const root = document.documentElement
  const params = (tg.themeParams ?? {}) as unknown as Record<string, string | undefined>
  const fromTelegram = Object.keys(THEME_VARS).some((k) => params[k])
  if (fromTelegram) {
    for (const [key, cssVar] of Object.entries(THEME_VARS)) {
      const value = params[key]
      if (value) root.style.setProperty(cssVar, value)
    }
  } else if (window.matchMedia?.('(prefers-color-scheme: dark)').matches) {
    for (const [cssVar, value] of Object.entries(DARK)) root.style.setProperty(cssVar, value)
  }
  root.dataset.scheme = tg.colorScheme === 'dark' || (!fromTelegram && window.matchMedia?.('(prefers-color-scheme: dark)').matches) ? 'dark' : 'light'
}

export function initTelegram(): void {
  try {
    tg.ready()
    tg.expand()
    tg.onEvent('themeChanged', applyTheme)
  } catch {
    /* outside Telegram */
  }
  applyTheme()
}

export function haptic(kind: 'success' | 'error' | 'light'): void {
  try {
    if (kind === 'light') tg.HapticFeedback.impactOccurred('light')
    else tg.HapticFeedback.notificationOccurred(kind)
  } catch {
    /* not supported */
  }
}

export function telegramLanguage(): string | undefined {
  return tg.initDataUnsafe?.user?.language_code
}

/** Asks the user to confirm: Telegram's native popup inside Telegram (6.2+), the browser's otherwise. */
export function confirmAction(message: string): Promise<boolean> {
  if (insideTelegram() && tg.isVersionAtLeast?.('6.2')) {
    return new Promise((resolve) => {
      try {
        tg.showConfirm(message, (ok) => resolve(Boolean(ok)))
      } catch {
        resolve(window.confirm(message))
      }
    })
  }
  return Promise.resolve(window.confirm(message))
}

/** While a paid job runs, closing the Mini App asks first (Telegram 6.2+). */
export function setClosingConfirmation(on: boolean): void {
  try {
    if (!insideTelegram() || !tg.isVersionAtLeast('6.2')) return
    if (on) tg.enableClosingConfirmation()
    else tg.disableClosingConfirmation()
  } catch {
    /* not supported */
  }
}

/** Inside Telegram, shows the MainButton with `text` while mounted and `visible`; the screen then
 *  hides its own button (`useMainButton` returns true). Outside Telegram it does nothing. */
export function useMainButton(text: string, onClick: () => void, { visible = true, enabled = true, progress = false } = {}): boolean {
  const active = insideTelegram() && visible
  const handler = useRef(onClick)
  handler.current = onClick
  useEffect(() => {
    if (!active) return
    const click = () => handler.current()
    try {
      tg.MainButton.setText(text)
      if (enabled) tg.MainButton.enable()
      else tg.MainButton.disable()
      if (progress) tg.MainButton.showProgress(false)
      else tg.MainButton.hideProgress()
      tg.MainButton.onClick(click)
      tg.MainButton.show()
    } catch {
      return undefined
    }
    return () => {
      try {
        tg.MainButton.offClick(click)
        tg.MainButton.hide()
      } catch {
        /* not supported */
      }
    }
  }, [active, text, enabled, progress])
  return active
}

/** A signed media URL that answers with `Content-Disposition: attachment`. */
export function downloadUrl(url: string): string {
  if (!url) return url
  return `${url}${url.includes('?') ? '&' : '?'}download=1`
}

/** Telegram 8.0+ saves files through its own dialog; returns false when the browser should do it. */
export function downloadInTelegram(url: string): boolean {
  try {
    if (!url || !insideTelegram() || !tg.isVersionAtLeast('8.0')) return false
    const absolute = new URL(downloadUrl(url), location.href).toString()
    const api = tg as unknown as { downloadFile?: (p: { url: string; file_name: string }) => void }
    if (!api.downloadFile) return false
    api.downloadFile({ url: absolute, file_name: 'primerka.jpg' })
    return true
  } catch {
    return false
  }
}
