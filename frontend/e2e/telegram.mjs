// An emulated Telegram client around the real Mini App: the launch parameters Telegram puts in
// the URL hash (initData signed with the bot token exactly as Telegram signs it, version,
// platform, theme), a `window.TelegramWebviewProxy` that records every `postEvent` the app's SDK
// sends and answers the requests Telegram answers (viewport, safe area, theme, popups), and a way
// to send events back through `Telegram.WebView.receiveEvent` (button presses, theme changes,
// invoices closing, the app coming back to the foreground, the phone number shared through
// `requestContact` — `state.phone`, null to decline). It also plays Telegram's server side
// where a flow needs it (the `successful_payment` update on /webhooks/telegram), and keeps
// CloudStorage as Telegram's servers do: per user, in this process, so it outlives the page and
// the browser context (another device opening the Mini App finds what the first one stored).
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** initData for `fields` (values as Telegram sends them; objects become JSON), signed per
 *  contracts/telegram.md §2: sorted `key=value` lines, HMAC-SHA-256 with
 *  HMAC-SHA-256("WebAppData", bot token). */
export function signInitData(botToken, fields) {
  const pairs = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)])
  const checkString = [...pairs]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')
  const secret = createHmac('sha256', 'WebAppData').update(botToken).digest()
  const hash = createHmac('sha256', secret).update(checkString).digest('hex')
  return new URLSearchParams([...pairs, ['hash', hash]]).toString()
}

/** The signer must reproduce a real Telegram-issued initData (tests/vectors). */
export function checkSignerAgainstVectors(path) {
  const vectors = JSON.parse(readFileSync(path, 'utf8'))
  const vector = vectors.find((v) => v.id === 'golang:sign_query_string')
  if (!vector) throw new Error(`no golang:sign_query_string vector in ${path}`)
  const params = new URLSearchParams(vector.init_data)
  const expected = params.get('hash')
  params.delete('hash')
  const signed = new URLSearchParams(signInitData(vector.bot_token, Object.fromEntries(params)))
  if (signed.get('hash') !== expected) throw new Error(`initData signer disagrees with ${vector.id}`)
}

// ---- CloudStorage (Bot API 6.9) ------------------------------------------------------------
// telegram-web-app.js sends `web_app_invoke_custom_method {req_id, method, params}` with
// `saveStorageValue {key, value}`, `getStorageValues {keys}` (result: key → value, '' for a key
// without one), `deleteStorageValues {keys}` and `getStorageKeys {}` (result: the keys), and
// waits for `custom_method_invoked {req_id, result}` or `{req_id, error}`. Limits as Telegram's:
// keys of 1–128 characters A-Z a-z 0-9 _ -, values up to 4096 characters, 1024 keys per user.

const cloudStores = new Map()
const CLOUD_KEY = /^[A-Za-z0-9_-]{1,128}$/

/** The CloudStorage Telegram keeps for `userId` (key → value); a test may read or change it. */
export function cloudStorageOf(userId) {
  let store = cloudStores.get(Number(userId))
  if (!store) cloudStores.set(Number(userId), (store = new Map()))
  return store
}

/** Telegram's answer to one storage method: `{ result }` or `{ error }`. */
function cloudStorageMethod(userId, method, params = {}) {
  if (!Number.isSafeInteger(Number(userId))) return { error: 'USER_UNKNOWN' }
  const store = cloudStorageOf(userId)
  const keys = Array.isArray(params.keys) ? params.keys.map(String) : []
  switch (method) {
    case 'saveStorageValue': {
      const key = String(params.key ?? '')
      const value = String(params.value ?? '')
      if (!CLOUD_KEY.test(key)) return { error: 'STORAGE_KEY_INVALID' }
      if (value.length > 4096) return { error: 'STORAGE_VALUE_INVALID' }
      if (!store.has(key) && store.size >= 1024) return { error: 'STORAGE_KEYS_TOO_MANY' }
      store.set(key, value)
      return { result: true }
    }
    case 'getStorageValues':
      if (keys.length === 0 || keys.some((k) => !CLOUD_KEY.test(k))) return { error: 'STORAGE_KEY_INVALID' }
      return { result: Object.fromEntries(keys.map((k) => [k, store.get(k) ?? ''])) }
    case 'deleteStorageValues':
      if (keys.length === 0 || keys.some((k) => !CLOUD_KEY.test(k))) return { error: 'STORAGE_KEY_INVALID' }
      for (const k of keys) store.delete(k)
      return { result: true }
    case 'getStorageKeys':
      return { result: [...store.keys()] }
    default:
      return { error: 'METHOD_NOT_FOUND' }
  }
}

/** Contexts whose pages reach the CloudStorage above. */
const cloudBound = new WeakSet()

/** A launch of the Mini App the way Telegram opens it. */
export function launchUrl(base, path, { initData, platform, theme, version = '8.0', startParam }) {
  const hash = new URLSearchParams({
    tgWebAppData: initData,
    tgWebAppVersion: version,
    tgWebAppPlatform: platform,
    tgWebAppThemeParams: JSON.stringify(theme),
    ...(startParam ? { tgWebAppStartParam: startParam } : {}),
  })
  return `${base}${path}#${hash.toString()}`
}

/** Installed before any page script: the client side of Telegram's bridge. */
function clientScript({ theme, safeBottom }) {
  const record = []
  const state = { theme, confirm: true, phone: '+79001234567' }
  const reply = (type, data) => setTimeout(() => window.Telegram?.WebView?.receiveEvent(type, data), 0)
  window.__tg = { events: record, state }
  window.TelegramWebviewProxy = {
    postEvent(type, data) {
      let parsed
      try {
        parsed = data ? JSON.parse(data) : null
      } catch {
        parsed = data
      }
      record.push({ type, data: parsed, at: Date.now() })
      switch (type) {
        case 'web_app_request_viewport':
          reply('viewport_changed', { height: window.innerHeight, is_expanded: true, is_state_stable: true })
          break
        case 'web_app_request_safe_area':
          reply('safe_area_changed', { top: 0, bottom: safeBottom, left: 0, right: 0 })
          break
        case 'web_app_request_content_safe_area':
          reply('content_safe_area_changed', { top: 0, bottom: 0, left: 0, right: 0 })
          break
        case 'web_app_request_theme':
          reply('theme_changed', { theme_params: state.theme })
          break
        case 'web_app_request_phone':
          // The user shares the number (or declines); the SDK then asks for the contact itself.
          reply('phone_requested', { status: state.phone ? 'sent' : 'cancelled' })
          break
        case 'web_app_invoke_custom_method':
          if (['saveStorageValue', 'getStorageValues', 'deleteStorageValues', 'getStorageKeys'].includes(parsed?.method)) {
            // Telegram's servers (the test process) answer for the user the Mini App was opened for.
            const user = window.Telegram?.WebApp?.initDataUnsafe?.user?.id
            window.__tgCloudStorage(user, parsed.method, parsed.params ?? {}).then(
              (outcome) => reply('custom_method_invoked', { req_id: parsed.req_id, ...outcome }),
              () => undefined, // the page is gone; what was sent is stored all the same
            )
          } else if (parsed?.method === 'getRequestedContact') {
            const user = window.Telegram?.WebApp?.initDataUnsafe?.user ?? {}
            const contact = JSON.stringify({ phone_number: state.phone, first_name: user.first_name ?? '', user_id: user.id })
            const result = `contact=${encodeURIComponent(contact)}&auth_date=${Math.floor(Date.now() / 1000)}&hash=e2e`
            reply('custom_method_invoked', { req_id: parsed.req_id, result })
          }
          break
        case 'web_app_open_popup': {
          // The user presses the first button (OK) or cancels, as the flow decided.
          const ok = parsed?.buttons?.find((b) => b.type === 'ok' || b.type === 'default')
          reply('popup_closed', state.confirm && ok ? { button_id: ok.id } : {})
          break
        }
      }
    },
  }
}

/** Opens the Mini App for `user` inside an emulated client in `context`. */
export async function openMiniApp(context, { base, botToken, user, palette, theme, platform, path = '/', startParam }) {
  if (!cloudBound.has(context)) {
    cloudBound.add(context)
    await context.exposeBinding('__tgCloudStorage', (_source, userId, method, params) => cloudStorageMethod(userId, method, params))
  }
  await context.addInitScript(clientScript, { theme, safeBottom: platform === 'ios' ? 34 : 0 })
  const page = await context.newPage()
  const initData = signInitData(botToken, {
    query_id: `AAH${user.id.toString(36)}`,
    user: { id: user.id, first_name: user.first_name, last_name: 'E2E', username: `u${user.id}`, language_code: user.language_code, allows_write_to_pm: true },
    auth_date: Math.floor(Date.now() / 1000),
    chat_type: 'sender',
    chat_instance: '8134722200314281151',
    start_param: startParam,
  })
  await page.goto(launchUrl(base, path, { initData, platform, theme, startParam }))
  page.tg = { palette, initData }
  return page
}

/** Everything the app posted so far, optionally of one type. */
export async function events(page, type) {
  const all = await page.evaluate(() => window.__tg.events)
  return type ? all.filter((e) => e.type === type) : all
}

/** The newest event of `type` (its data), or undefined. */
export async function lastEvent(page, type) {
  return (await events(page, type)).at(-1)?.data
}

/** Waits until an event of `type` matching `test` was posted; returns its data. */
export async function waitForEvent(page, type, test = () => true, timeout = 15_000) {
  const until = Date.now() + timeout
  for (;;) {
    const found = (await events(page, type)).find((e) => test(e.data))
    if (found) return found.data
    if (Date.now() > until) throw new Error(`no ${type} event matching ${test} within ${timeout} ms`)
    await page.waitForTimeout(100)
  }
}

/** Waits until the newest `type` event satisfies `test` (state-like events: buttons). */
export async function waitForState(page, type, test, what, timeout = 15_000) {
  const until = Date.now() + timeout
  for (;;) {
    const data = await lastEvent(page, type)
    if (data && test(data)) return data
    if (Date.now() > until) throw new Error(`${what}: the last ${type} is ${JSON.stringify(data)}`)
    await page.waitForTimeout(100)
  }
}

/** Telegram → the app. */
export async function send(page, type, data) {
  await page.evaluate(([t, d]) => window.Telegram.WebView.receiveEvent(t, d), [type, data])
}

/** Switches the client's theme (what Telegram does when the user changes it). */
export async function setTheme(page, theme) {
  await page.evaluate((t) => {
    window.__tg.state.theme = t
    window.Telegram.WebView.receiveEvent('theme_changed', { theme_params: t })
  }, theme)
}

/** Telegram's server side: an update to the bot's webhook with the secret token header. */
export async function postUpdate(base, secret, update) {
  const response = await fetch(`${base}/webhooks/telegram`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': secret },
    body: JSON.stringify(update),
  })
  if (!response.ok) throw new Error(`/webhooks/telegram answered ${response.status}`)
}
