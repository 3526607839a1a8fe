// The real @twa-dev/sdk, bundled by Vite's production build exactly as the app is (no mock), run
// in a page opened the way Telegram opens a Mini App: launch parameters in the hash and a
// TelegramWebviewProxy that receives every postEvent. Importing a CommonJS package's default
// export once handed the module object to the app instead of the WebApp (no login in Telegram);
// this fails if anything like that comes back.
import { build } from 'vite'
import { afterAll, describe, expect, it } from 'vitest'

// Vitest runs in frontend/ (npm test), like the build.
type Built = { output: { type: string; code?: string }[] }

async function bundle(): Promise<string> {
  const out = (await build({
    configFile: 'vite.config.ts',
    logLevel: 'silent',
    build: {
      write: false,
      minify: true,
      rollupOptions: { input: 'src/test/sdk-entry.ts', output: { format: 'iife' } },
    },
  })) as Built | Built[]
  const outputs = Array.isArray(out) ? out : [out]
  const chunk = outputs.flatMap((o) => o.output).find((c) => c.type === 'chunk')
  if (!chunk?.code) throw new Error('no chunk built')
  return chunk.code
}

type Bundled = {
  tg: { initData: string; platform: string; MainButton: { setParams: (p: object) => void }; HapticFeedback: { notificationOccurred: (k: string) => void } }
  insideTelegram: () => boolean
  startParam: () => string | undefined
}

describe('the bundled Telegram SDK', () => {
  const events: [string, unknown][] = []
  const initData = 'query_id=AAH1&user=%7B%22id%22%3A42%2C%22first_name%22%3A%22%D0%90%D0%BD%D1%8F%22%7D&auth_date=1&start_param=paid_abc&hash=00'
  afterAll(() => history.replaceState(null, '', '/'))

  it('reads the launch parameters and talks to the Telegram client', async () => {
    const code = await bundle()
    history.replaceState(
      null,
      '',
      `/#tgWebAppData=${encodeURIComponent(initData)}&tgWebAppVersion=8.0&tgWebAppPlatform=ios&tgWebAppThemeParams=${encodeURIComponent('{"bg_color":"#000000"}')}`,
    )
    Object.assign(window, {
      TelegramWebviewProxy: { postEvent: (type: string, data: string) => events.push([type, data ? JSON.parse(data) : null]) },
    })
    new Function(code)()
    const { tg, insideTelegram, startParam } = (window as unknown as { __bundled: Bundled }).__bundled
    expect(tg.initData).toBe(initData)
    expect(insideTelegram()).toBe(true)
    expect(startParam()).toBe('paid_abc')
    expect(tg.platform).toBe('ios')

    tg.MainButton.setParams({ text: 'Примерить', is_visible: true, is_active: false })
    expect(events).toContainEqual(['web_app_setup_main_button', expect.objectContaining({ text: 'Примерить', is_active: false })])
    tg.HapticFeedback.notificationOccurred('success')
    expect(events).toContainEqual(['web_app_trigger_haptic_feedback', { type: 'notification', notification_type: 'success' }])
  }, 60_000)
})
