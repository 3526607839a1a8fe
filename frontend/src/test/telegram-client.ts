// An emulated Telegram client for Vitest, installed before the SDK loads (from `vi.hoisted`):
// launch parameters in the hash, a `TelegramWebviewProxy` that records every postEvent, and
// Telegram's side of CloudStorage — the custom methods telegram-web-app.js invokes
// (`saveStorageValue`, `getStorageValues`, `deleteStorageValues`, `getStorageKeys`) answered
// with `custom_method_invoked` as the real client does. The storage can be told to fail or to
// stay silent. No mock of the SDK: the app's code talks to the real telegram-web-app.js.

export type PostedEvent = [type: string, data: Record<string, unknown> | null]

/** Telegram's server side of CloudStorage, as seen by a test. */
export type CloudServer = {
  values: Map<string, string>
  /** `ok` answers, `error` answers an error, `silent` never answers. */
  mode: 'ok' | 'error' | 'silent'
  /** How long an answer takes (ms). */
  delayMs: number
}

const KEY = /^[A-Za-z0-9_-]{1,128}$/

export function installTelegramClient({ userId = 7, version = '8.0', platform = 'android', language = 'en' } = {}) {
  const events: PostedEvent[] = []
  const cloud: CloudServer = { values: new Map(), mode: 'ok', delayMs: 0 }
  const initData = `user=${encodeURIComponent(JSON.stringify({ id: userId, language_code: language }))}&auth_date=1&hash=00`
  history.replaceState(null, '', `/#tgWebAppData=${encodeURIComponent(initData)}&tgWebAppVersion=${version}&tgWebAppPlatform=${platform}`)

  const answer = (data: Record<string, unknown>) =>
    setTimeout(() => {
      const webView = (window as unknown as { Telegram?: { WebView?: { receiveEvent: (t: string, d: unknown) => void } } }).Telegram?.WebView
      webView?.receiveEvent('custom_method_invoked', data)
    }, cloud.delayMs)

  const storage = (method: string, params: Record<string, unknown>): { result: unknown } | { error: string } => {
    const keys = Array.isArray(params.keys) ? (params.keys as unknown[]).map(String) : []
    switch (method) {
      case 'saveStorageValue': {
        const key = String(params.key ?? '')
        const value = String(params.value ?? '')
        if (!KEY.test(key)) return { error: 'STORAGE_KEY_INVALID' }
        if (value.length > 4096) return { error: 'STORAGE_VALUE_INVALID' }
        if (!cloud.values.has(key) && cloud.values.size >= 1024) return { error: 'STORAGE_KEYS_TOO_MANY' }
        cloud.values.set(key, value)
        return { result: true }
      }
      case 'getStorageValues':
        if (keys.some((k) => !KEY.test(k))) return { error: 'STORAGE_KEY_INVALID' }
        // A key without a value reads as an empty string.
        return { result: Object.fromEntries(keys.map((k) => [k, cloud.values.get(k) ?? ''])) }
      case 'deleteStorageValues':
        if (keys.some((k) => !KEY.test(k))) return { error: 'STORAGE_KEY_INVALID' }
        for (const k of keys) cloud.values.delete(k)
        return { result: true }
      case 'getStorageKeys':
        return { result: [...cloud.values.keys()] }
      default:
        return { error: 'METHOD_NOT_FOUND' }
    }
  }

  Object.assign(window, {
    TelegramWebviewProxy: {
      postEvent(type: string, data: string) {
        const parsed = data ? (JSON.parse(data) as Record<string, unknown>) : null
        events.push([type, parsed])
        if (type !== 'web_app_invoke_custom_method' || !parsed) return
        const method = String(parsed.method)
        if (!['saveStorageValue', 'getStorageValues', 'deleteStorageValues', 'getStorageKeys'].includes(method)) return
        if (cloud.mode === 'silent') return
        const outcome = cloud.mode === 'error' ? { error: 'UNKNOWN_ERROR' } : storage(method, (parsed.params ?? {}) as Record<string, unknown>)
        answer({ req_id: parsed.req_id, ...outcome })
      },
    },
  })
  return { events, cloud }
}

/** The storage calls the app made, in order: `[method, params]`. */
export function storageCalls(events: PostedEvent[]): [string, Record<string, unknown>][] {
  return events
    .filter(([type]) => type === 'web_app_invoke_custom_method')
    .map(([, data]) => [String(data?.method), (data?.params ?? {}) as Record<string, unknown>])
}
